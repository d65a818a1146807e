"""Builders of test files, good and bad: each returns the file's bytes.

Built with the real PyMuPDF and Pillow, or written by hand where those cannot produce the
file (a PDF with zero pages). Real SEC filings come from ``tests/data`` (``filing``).
"""

from __future__ import annotations

import functools
import io
import math
import os
import struct
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from rag._mupdf import pymupdf

REPO = Path(__file__).resolve().parents[2]
# Real SEC filings (whole or cut to a few pages); tests/data/README.md says which pages.
DATA = REPO / "tests" / "data"
ULTA = "ULTABEAUTY_2023Q4_EARNINGS.pdf"
LETTER = (612.0, 792.0)


def financebench() -> Path:
    """The whole financebench corpus (20 filings, 37 questions); skips the test where absent.

    ``$FOLIO_FINANCEBENCH`` names it; else ``../shared/bench/financebench`` beside the checkout.
    Only tests marked ``slow`` use it: a fresh clone runs without it.
    """
    override = os.environ.get("FOLIO_FINANCEBENCH")
    corpus = Path(override) if override else REPO.parent / "shared" / "bench" / "financebench"
    if not (corpus / "pdfs").is_dir():
        pytest.skip(
            f"the financebench corpus is not at {corpus}; set FOLIO_FINANCEBENCH to its folder "
            "to run the tests that read all 20 filings"
        )
    return corpus


def filing(name: str = ULTA) -> bytes:
    """The bytes of one real filing in tests/data."""
    return (DATA / name).read_bytes()


def filing_pages(name: str, pages: Sequence[int]) -> bytes:
    """A PDF of the given 1-based pages of a real filing in tests/data."""
    doc = pymupdf.open(stream=filing(name), filetype="pdf")
    doc.select([number - 1 for number in pages])
    return bytes(doc.tobytes(garbage=1, no_new_id=True))


def text_pdf(pages: Sequence[str], *, size: tuple[float, float] = LETTER) -> bytes:
    """A PDF with one page per string; blank lines split a page's text into blocks."""
    doc = pymupdf.open()
    for text in pages:
        page = doc.new_page(width=size[0], height=size[1])
        top = 72.0
        for paragraph in text.split("\n\n"):
            if not paragraph.strip():
                continue
            lines = math.ceil(len(paragraph) / 80) + paragraph.count("\n") + 1
            box = pymupdf.Rect(72, top, size[0] - 72, top + lines * 15)
            page.insert_textbox(box, paragraph, fontsize=11, fontname="helv")
            top = box.y1 + 18
    return bytes(doc.tobytes(no_new_id=True))


def vector_heavy_pdf(pages: Sequence[str], *, paths: int = 100_000) -> bytes:
    """``text_pdf`` whose first page also strokes ``paths`` short lines (slow to draw)."""
    doc = pymupdf.open(stream=text_pdf(pages), filetype="pdf")
    page = doc[0]
    page.clean_contents()  # one content stream to append to
    [xref] = page.get_contents()
    strokes = "".join(
        f"{72 + (i * 7) % 460} {100 + (i * 13) % 600} m {75 + (i * 11) % 460} {104 + i % 600} l S\n"
        for i in range(paths)
    )
    doc.update_stream(xref, doc.xref_stream(xref) + b"\n0.2 w\n" + strokes.encode())
    return bytes(doc.tobytes(no_new_id=True))


def encrypted_pdf(password: str = "secret") -> bytes:
    """A text PDF that needs ``password`` to open (AES-256)."""
    doc = pymupdf.open(stream=text_pdf(["Quarterly numbers nobody may read."]), filetype="pdf")
    return bytes(
        doc.tobytes(
            encryption=pymupdf.PDF_ENCRYPT_AES_256,
            user_pw=password,
            owner_pw=password + "-owner",
        )
    )


def truncated_pdf(name: str = ULTA, keep: float = 0.6) -> bytes:
    """The first ``keep`` share of a real filing, as an interrupted download leaves it."""
    data = filing(name)
    return data[: int(len(data) * keep)]


def zero_page_pdf() -> bytes:
    """A well-formed PDF whose page tree is empty (PyMuPDF refuses to save one)."""
    return _hand_written_pdf(
        [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]
    )


def _hand_written_pdf(objects: Sequence[bytes]) -> bytes:
    """A PDF of ``objects`` (numbered from 1; object 1 is the catalog) with a correct xref."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def image_bomb_pdf(side: int = 20000) -> bytes:
    """A one-page PDF showing a ``side`` x ``side`` grey picture that compresses to little.

    Small on disk, ``side``² bytes once decoded: the memory limit has to stop it.
    """
    compressor = zlib.compressobj(1)
    rows = [compressor.compress(bytes(side) * 100) for _ in range(side // 100)]
    picture_stream = b"".join([*rows, compressor.flush()])
    content = b"q 500 0 0 600 50 100 cm /Im0 Do Q"
    return _hand_written_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /XObject << /Im0 5 0 R >> >> /Contents 4 0 R >>",
            b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
            b"/BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n"
            % (side, side, len(picture_stream))
            + picture_stream
            + b"\nendstream",
        ]
    )


def html_renamed_pdf() -> bytes:
    """What a download without the right token returns: Slack's login page."""
    return (
        b'<!DOCTYPE html>\n<html lang="en"><head><title>Slack</title></head>'
        b'<body><form action="/signin"><input name="email"></form></body></html>\n'
    )


def docx_bytes() -> bytes:
    """A minimal Word document (a ZIP with word/document.xml)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


@functools.cache
def huge_png(width: int = 20000, height: int = 20000) -> bytes:
    """A valid PNG of ``width`` x ``height`` pixels, small on disk (1-bit, all black).

    Written by hand: Pillow would need the whole bitmap in memory and seconds to encode.
    """
    row = bytes(1 + (width + 7) // 8)  # filter byte 0, then the packed pixels
    compressor = zlib.compressobj(1)
    rows_per_piece = 256
    parts = [compressor.compress(row * rows_per_piece) for _ in range(height // rows_per_piece)]
    parts.append(compressor.compress(row * (height % rows_per_piece)))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", b"".join(parts))
        + _png_chunk(b"IEND", b"")
    )


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body)
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def huge_mediabox_pdf(width: float = 14400.0, *, page_number: int = 1) -> bytes:
    """A PDF whose page ``page_number`` is ``width`` points wide (the pages before: letter)."""
    doc = pymupdf.open()
    for _ in range(page_number - 1):
        doc.new_page(width=LETTER[0], height=LETTER[1]).insert_text((72, 72), "A normal page.")
    page = doc.new_page(width=width, height=LETTER[1])
    page.insert_text((72, 72), "A banner as wide as a building.")
    return bytes(doc.tobytes(no_new_id=True))


def picture(size: tuple[int, int] = (640, 480), *, fmt: str = "PNG", mode: str = "RGB") -> bytes:
    """A picture with coloured shapes (a red disc, a blue bar) on white, as ``fmt``."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    w, h = size
    draw.ellipse((w * 0.1, h * 0.1, w * 0.45, h * 0.6), fill=(220, 30, 30))
    draw.rectangle((w * 0.55, h * 0.3, w * 0.9, h * 0.9), fill=(30, 60, 200))
    out = io.BytesIO()
    converted = image.convert(mode)
    if fmt == "GIF":
        second = Image.new("RGB", size, "black").convert("P")
        converted.convert("P").save(out, format="GIF", save_all=True, append_images=[second])
    else:
        converted.save(out, format=fmt)
    return out.getvalue()


def scanned_pdf() -> bytes:
    """A one-page PDF whose only content is a full-page picture (a scan, no text layer)."""
    doc = pymupdf.open()
    page = doc.new_page(width=LETTER[0], height=LETTER[1])
    page.insert_image(page.rect, stream=picture((850, 1100)))
    return bytes(doc.tobytes(no_new_id=True))


def pdf_with_figure() -> bytes:
    """Page 1: a heading, text, an embedded picture and a vector chart (bars and a pie)."""
    doc = pymupdf.open()
    page = doc.new_page(width=LETTER[0], height=LETTER[1])
    page.insert_text((72, 60), "Store growth by region", fontsize=16)
    page.insert_textbox(
        pymupdf.Rect(72, 80, 540, 130),
        "New stores opened in every region; the chart below shows the count per region.",
        fontsize=11,
    )
    page.insert_image(pymupdf.Rect(72, 150, 312, 330), stream=picture((400, 300)))
    _bar_chart(page, pymupdf.Rect(72, 400, 300, 600))
    _pie_chart(page, pymupdf.Point(430, 500), 80)
    return bytes(doc.tobytes(no_new_id=True))


def _bar_chart(page: object, area: pymupdf.Rect) -> None:
    shape = page.new_shape()  # type: ignore[attr-defined]
    shape.draw_line(area.bl, area.br)
    shape.draw_line(area.bl, area.tl)
    shape.finish(color=(0, 0, 0), width=1)
    colours = [(0.85, 0.2, 0.2), (0.2, 0.4, 0.85), (0.2, 0.7, 0.3), (0.95, 0.6, 0.1)]
    for i, (height, colour) in enumerate(zip((0.5, 0.8, 0.35, 0.65), colours, strict=True)):
        x0 = area.x0 + 15 + i * 52
        bar = pymupdf.Rect(x0, area.y1 - height * area.height, x0 + 36, area.y1)
        shape.draw_rect(bar)
        shape.finish(fill=colour, color=None)
    shape.commit()


def _pie_chart(page: object, centre: pymupdf.Point, radius: float) -> None:
    shape = page.new_shape()  # type: ignore[attr-defined]
    start = centre + (radius, 0)
    colours = [(0.85, 0.2, 0.2), (0.2, 0.4, 0.85), (0.2, 0.7, 0.3)]
    for share, colour in zip((0.5, 0.3, 0.2), colours, strict=True):
        start = shape.draw_sector(centre, start, 360 * share, fullSector=True)
        shape.finish(fill=colour, color=(1, 1, 1), closePath=False)
    shape.commit()
