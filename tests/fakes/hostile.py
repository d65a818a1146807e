"""A corpus of hostile files: each must end as one clear DocumentError or a clean parse.

``hostile_corpus()`` builds them all in memory (a few seconds): broken, encrypted, bombs
(decompression, ZIP, XML entities, nested forms that take minutes to draw), polyglots,
mislabelled files, Office files with macros and external links. Names are what a user would
upload; the bytes are what an attacker would.
"""

from __future__ import annotations

import io
import random
import zipfile
from collections.abc import Callable

import pymupdf

from tests.fakes import documents
from tests.fakes.documents import _hand_written_pdf

Hostile = tuple[str, bytes]


def hostile_corpus() -> list[Hostile]:
    """Every hostile file, as (file name, bytes)."""
    return [(name, build()) for name, build in BUILDERS]


def _noise(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _zip(members: dict[str, bytes], *, level: int = 9) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def _zip_bomb(inner: str, size: int = 200 * 1024 * 1024) -> bytes:
    """One member that inflates to ``size`` bytes of zeros from a few hundred kilobytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open(inner, "w", force_zip64=True) as member:
            block = bytes(1024 * 1024)
            for _ in range(size // len(block)):
                member.write(block)
    return out.getvalue()


def _docx(
    document_xml: bytes, *, extra: dict[str, bytes] | None = None, rels: bytes = b""
) -> bytes:
    """A minimal Word file around ``document_xml``."""
    content_types = (
        b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
        b'package/2006/content-types"><Default Extension="rels" ContentType="application/'
        b'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
        b'ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType='
        b'"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
        b"</Types>"
    )
    root_rels = (
        b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
        b'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://'
        b'schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
        b'Target="word/document.xml"/></Relationships>'
    )
    members = {
        "[Content_Types].xml": content_types,
        "_rels/.rels": root_rels,
        "word/document.xml": document_xml,
    }
    if rels:
        members["word/_rels/document.xml.rels"] = rels
    members.update(extra or {})
    return _zip(members)


W = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def _word_body(text: bytes) -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8"?><w:document '
        + W
        + b"><w:body><w:p><w:r><w:t>"
        + text
        + b"</w:t></w:r></w:p></w:body></w:document>"
    )


def _pdf_page(
    resources: bytes, content: bytes, *extra: bytes, box: bytes = b"0 0 612 792"
) -> bytes:
    return _hand_written_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox ["
            + box
            + b"] /Resources "
            + resources
            + b" /Contents 4 0 R >>",
            b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
            *extra,
        ]
    )


def _nested_forms(depth: int = 9, fanout: int = 10) -> bytes:
    """Form XObjects each drawing the next ``fanout`` times: fanout**depth draws to render."""
    forms = []
    first = 5
    for level in range(depth):
        number = first + level
        if level == depth - 1:
            body = b"0 0 1 1 re f"
            resources = b"<< >>"
        else:
            body = b" ".join(b"q 1 0 0 1 %d 0 cm /F Do Q" % i for i in range(fanout))
            resources = b"<< /XObject << /F %d 0 R >> >>" % (number + 1)
        forms.append(
            b"<< /Type /XObject /Subtype /Form /BBox [0 0 600 800] /Resources %s /Length %d >>"
            b"\nstream\n%s\nendstream" % (resources, len(body), body)
        )
    return _pdf_page(b"<< /XObject << /F 5 0 R >> >>", b"/F Do", *forms)


def _circular_outline() -> bytes:
    return _hand_written_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /Outlines 5 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
            b"<< /Length 0 >>\nstream\n\nendstream",
            b"<< /Type /Outlines /First 6 0 R /Last 6 0 R /Count 1 >>",
            b"<< /Title (Loop) /Parent 5 0 R /First 6 0 R /Last 6 0 R /Next 6 0 R /Prev 6 0 R "
            b"/Count 1 /Dest [3 0 R /Fit] >>",
        ]
    )


def _broken_xref() -> bytes:
    data = bytearray(documents.text_pdf(["The xref table points nowhere."]))
    at = data.rfind(b"startxref")
    return bytes(data[:at]) + b"startxref\n999999999\n%%EOF\n"


def _self_referencing_prev() -> bytes:
    """An incremental update whose xref section names itself as the previous one."""
    data = documents.text_pdf(["An update section whose /Prev is itself."])
    at = len(data)
    return data + (
        b"xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 1 /Root 1 0 R /Prev %d >>\n"
        b"startxref\n%d\n%%%%EOF\n" % (at, at)
    )


def _many_pages(count: int) -> bytes:
    document = pymupdf.open()
    for _ in range(count):
        document.new_page(width=100, height=100)
    data = document.tobytes()
    document.close()
    return bytes(data)


def _huge_text_page() -> bytes:
    content = b"BT /F1 1 Tf " + b"(x) Tj " * 1_500_000 + b"ET"
    return _pdf_page(
        b"<< /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >>", content
    )


def _javascript_pdf() -> bytes:
    return _hand_written_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R /AA << /WC 6 0 R >> >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
            b"<< /Length 0 >>\nstream\n\nendstream",
            b"<< /S /JavaScript /JS (app.alert('hi'); while(true){}) >>",
            b"<< /S /Launch /F (cmd.exe) >>",
        ]
    )


def _gif_huge_screen() -> bytes:
    # A GIF header claiming 65535 x 65535, with one tiny frame.
    header = b"GIF89a" + (65535).to_bytes(2, "little") * 2 + b"\x00\x00\x00"
    frame = b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    return header + frame


def _png_garbage() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + _noise(4096, 5)


def _jpeg_truncated() -> bytes:
    return documents.picture(fmt="JPEG")[:300]


def _pdf_zip_polyglot() -> bytes:
    return documents.text_pdf(["A PDF with a ZIP archive glued on."]) + _zip({"a.txt": b"hi"})


def _zip_pdf_polyglot() -> bytes:
    return _zip({"doc.pdf": documents.text_pdf(["inside"])}) + b"%PDF-1.7\n"


def _jpeg_pdf_polyglot() -> bytes:
    return documents.picture(fmt="JPEG") + documents.text_pdf(["after the JPEG"])


def _macro_docx() -> bytes:
    return _docx(
        _word_body(b"A document carrying a macro project."),
        extra={"word/vbaProject.bin": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + _noise(2048, 7)},
    )


def _external_link_docx() -> bytes:
    rels = (
        b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
        b'openxmlformats.org/package/2006/relationships"><Relationship Id="rId9" Type="http://'
        b'schemas.openxmlformats.org/officeDocument/2006/relationships/image" '
        b'Target="http://198.51.100.7/track.png" TargetMode="External"/></Relationships>'
    )
    return _docx(_word_body(b"A document that links a picture on a remote server."), rels=rels)


def _entity_bomb_docx() -> bytes:
    entities = b'<!ENTITY a0 "lol">' + b"".join(
        b'<!ENTITY a%d "%s">' % (i, b"&a%d;" % (i - 1) * 10) for i in range(1, 10)
    )
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE w:document [' + entities + b"]>"
        b"<w:document " + W + b"><w:body><w:p><w:r><w:t>&a9;</w:t></w:r></w:p></w:body>"
        b"</w:document>"
    )
    return _docx(body)


def _invalid_xml_docx() -> bytes:
    return _docx(b"<w:document><w:body><unclosed>")


def _nested_html() -> bytes:
    return b"<html><body>" + b"<div>" * 100_000 + b"deep" + b"</div>" * 100_000 + b"</body></html>"


BUILDERS: list[tuple[str, Callable[[], bytes]]] = [
    ("encrypted.pdf", documents.encrypted_pdf),
    ("truncated.pdf", documents.truncated_pdf),
    ("header-then-garbage.pdf", lambda: b"%PDF-1.7\n" + _noise(64 * 1024, 1)),
    ("circular-outline.pdf", _circular_outline),
    ("broken-xref.pdf", _broken_xref),
    ("prev-loop.pdf", _self_referencing_prev),
    ("huge-mediabox.pdf", documents.huge_mediabox_pdf),
    ("image-bomb.pdf", documents.image_bomb_pdf),
    ("huge.png", documents.huge_png),
    ("empty.pdf", lambda: b""),
    ("zero-pages.pdf", documents.zero_page_pdf),
    ("zip-bomb.pdf", lambda: _zip_bomb("payload.bin")),
    ("zip-bomb.docx", lambda: _zip_bomb("word/document.xml")),
    ("pdf-zip-polyglot.pdf", _pdf_zip_polyglot),
    ("zip-pdf-polyglot.pdf", _zip_pdf_polyglot),
    ("jpeg-pdf-polyglot.pdf", _jpeg_pdf_polyglot),
    ("vector-paths.pdf", lambda: documents.vector_heavy_pdf(["100k paths"])),
    ("nested-forms.pdf", _nested_forms),
    ("too-many-pages.pdf", lambda: _many_pages(80)),
    ("huge-text-page.pdf", _huge_text_page),
    ("javascript.pdf", _javascript_pdf),
    ("login-page.pdf", documents.html_renamed_pdf),
    ("noise.pdf", lambda: _noise(32 * 1024, 2)),
    ("noise.png", lambda: _noise(32 * 1024, 3)),
    ("png-header-garbage.png", _png_garbage),
    ("truncated.jpg", _jpeg_truncated),
    ("huge-screen.gif", _gif_huge_screen),
    ("macros.docx", _macro_docx),
    ("external-link.docx", _external_link_docx),
    ("entity-bomb.docx", _entity_bomb_docx),
    ("invalid-xml.docx", _invalid_xml_docx),
    ("empty-archive.docx", lambda: _zip({})),
    ("binary.txt", lambda: _noise(16 * 1024, 4)),
    ("nested.html", _nested_html),
    ("one-long-line.csv", lambda: b"a," * 1_000_000 + b"\n"),
]
