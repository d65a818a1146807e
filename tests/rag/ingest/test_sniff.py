"""What bytes are: Office containers by what is inside them, text by its name, refusals."""

from __future__ import annotations

import io
import zipfile

import pytest

from rag.errors import EncryptedDocument, UnsupportedFile
from rag.ingest._sniff import OLE_MAGIC, SUPPORTED_SUFFIXES, decode_text, sniff
from tests.fakes import documents, office


def zipped(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def ole(*streams: str) -> bytes:
    """The head of an OLE compound file whose directory names ``streams`` (UTF-16LE)."""
    directory = b"".join(name.encode("utf-16-le").ljust(128, b"\0") for name in streams)
    return OLE_MAGIC + bytes(504) + directory


@pytest.mark.parametrize(
    ("data", "suffix", "kind"),
    [
        (office.docx_pages([["Hello."]]), "docx", "document"),
        (office.pptx_slides([("Title", "Body")]), "pptx", "presentation"),
        (office.xlsx_sheets({"Sheet": [["a", 1]]}), "xlsx", "spreadsheet"),
        (zipped({"mimetype": b"application/vnd.oasis.opendocument.text"}), "odt", "document"),
        (
            zipped({"mimetype": b"application/vnd.oasis.opendocument.presentation"}),
            "odp",
            "presentation",
        ),
        (
            zipped({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet"}),
            "ods",
            "spreadsheet",
        ),
        (ole("Root Entry", "WordDocument"), "doc", "document"),
        (ole("Root Entry", "PowerPoint Document"), "ppt", "presentation"),
        (ole("Root Entry", "Workbook"), "xls", "spreadsheet"),
        (b"{\\rtf1\\ansi Hello}", "rtf", "document"),
    ],
)
def test_office_files_are_known_by_what_is_inside_not_by_their_name(
    data: bytes, suffix: str, kind: str
) -> None:
    found = sniff(data, "upload.bin")
    assert (found.suffix, found.kind, found.route) == (suffix, kind, "office")


def test_a_password_protected_office_file_says_so() -> None:
    with pytest.raises(EncryptedDocument) as caught:
        sniff(ole("Root Entry", "EncryptionInfo", "EncryptedPackage"), "deck.pptx")
    assert caught.value.user_message.startswith("deck.pptx is password-protected")


def test_an_encrypted_opendocument_says_so() -> None:
    manifest = b'<manifest:file-entry><manifest:encryption-data manifest:checksum="x"/>'
    data = zipped(
        {"mimetype": b"application/vnd.oasis.opendocument.text", "META-INF/manifest.xml": manifest}
    )
    with pytest.raises(EncryptedDocument):
        sniff(data, "notes.odt")


def test_a_pdf_named_like_a_deck_is_read_as_a_pdf() -> None:
    assert sniff(documents.text_pdf(["x"]), "deck.pptx").route == "pdf"


@pytest.mark.parametrize(
    ("name", "suffix", "route"),
    [
        ("notes.md", "md", "text"),
        ("notes.markdown", "md", "text"),
        ("page.html", "html", "text"),
        ("page.htm", "html", "text"),
        ("notes.txt", "txt", "text"),
        ("table.csv", "csv", "office"),
    ],
)
def test_text_is_read_by_the_flavour_its_name_gives(name: str, suffix: str, route: str) -> None:
    found = sniff(b"name,amount\nrevenue was up,3\n", name)
    assert (found.suffix, found.route) == (suffix, route)


def test_a_zip_that_is_no_office_file_is_unsupported_and_named() -> None:
    with pytest.raises(UnsupportedFile) as caught:
        sniff(zipped({"photos/a.jpg": b"..."}), "holiday.zip")
    message = caught.value.user_message
    assert "holiday.zip" in message and "a ZIP archive" in message
    assert "Word, PowerPoint, Excel" in message


def test_plain_text_under_a_name_folio_does_not_read_is_unsupported() -> None:
    with pytest.raises(UnsupportedFile, match="plain text"):
        sniff(b"revenue was up\n", "notes.log")


def test_binary_bytes_named_txt_are_not_text() -> None:
    with pytest.raises(UnsupportedFile, match="unknown kind of file"):
        sniff(bytes(range(256)) * 4, "notes.txt")


def test_text_in_utf16_or_windows_1252_decodes() -> None:
    assert decode_text("\ufeffcafé".encode("utf-16-le")) == "café"
    assert decode_text("café au lait".encode("cp1252")) == "café au lait"
    assert decode_text("naïve".encode()) == "naïve"


def test_every_suffix_the_bot_accepts_has_a_leading_dot() -> None:
    assert all(s.startswith(".") and s == s.lower() for s in SUPPORTED_SUFFIXES)
    assert {".docx", ".pptx", ".xlsx", ".md", ".csv", ".pdf", ".png"} <= SUPPORTED_SUFFIXES
