"""What untrusted bytes are: magic bytes, the inside of ZIP and OLE containers, text.

The bytes decide, never the name: a JPEG named ``scan.pdf`` is a picture, a PDF named
``deck.pptx`` is a PDF. The name only picks the flavour of text (``.md``, ``.html``,
``.csv``, ``.txt``), which bytes cannot tell apart. Runs in the parse child (it opens ZIP
archives, which are untrusted too).
"""

from __future__ import annotations

import codecs
import zipfile
from dataclasses import dataclass
from io import BytesIO
from pathlib import PurePosixPath
from typing import Literal

from rag.errors import CorruptDocument, EmptyDocument, EncryptedDocument, UnsupportedFile
from rag.types import DocumentKind

Route = Literal["pdf", "image", "office", "text"]

SUPPORTED_FORMATS = (
    "PDFs; Word, PowerPoint, Excel and OpenDocument files; RTF, CSV, text, Markdown and "
    "HTML; and PNG, JPEG, WebP, GIF or TIFF pictures"
)
# What each readable suffix is; the bot and `folio ingest` accept files by these.
TEXT_SUFFIXES = {
    ".txt": "txt",
    ".text": "txt",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".csv": "csv",
}
OFFICE_SUFFIXES = frozenset(
    {".docx", ".doc", ".odt", ".rtf", ".pptx", ".ppt", ".odp", ".xlsx", ".xls", ".ods"}
)
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".tif", ".tiff"})
SUPPORTED_SUFFIXES = frozenset({".pdf", *IMAGE_SUFFIXES, *OFFICE_SUFFIXES, *TEXT_SUFFIXES})


def supported_formats() -> str:
    """The formats folio reads, in words, for messages ("PDFs; Word, PowerPoint, ...")."""
    return SUPPORTED_FORMATS


@dataclass(frozen=True, slots=True)
class Format:
    """A readable file format: its usual suffix, the document kind, and how it is read."""

    suffix: str
    kind: DocumentKind
    route: Route


PDF = Format("pdf", "pdf", "pdf")
IMAGE = Format("image", "image", "image")
_OFFICE = {
    "docx": "document",
    "doc": "document",
    "odt": "document",
    "rtf": "document",
    "pptx": "presentation",
    "ppt": "presentation",
    "odp": "presentation",
    "xlsx": "spreadsheet",
    "xls": "spreadsheet",
    "ods": "spreadsheet",
    "csv": "spreadsheet",
}
_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "a PNG picture"),
    (b"\xff\xd8\xff", "a JPEG picture"),
    (b"GIF87a", "a GIF picture"),
    (b"GIF89a", "a GIF picture"),
    (b"II*\x00", "a TIFF picture"),
    (b"MM\x00*", "a TIFF picture"),
)
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Stream names inside an OLE compound file (stored UTF-16LE in its directory).
_OLE_STREAMS = (
    ("EncryptedPackage", None),  # a password-protected .docx/.pptx/.xlsx
    ("WordDocument", "doc"),
    ("PowerPoint Document", "ppt"),
    ("Workbook", "xls"),
    ("Book", "xls"),
)
# Kinds folio cannot read, so that a refusal can say what the file seems to be.
_OTHER_MAGIC = (
    (b"%!PS", "a PostScript file"),
    (b"BM", "a BMP picture"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
)
_OOXML = (("word/", "docx"), ("ppt/", "pptx"), ("xl/", "xlsx"))
_ODF = (
    ("application/vnd.oasis.opendocument.text", "odt"),
    ("application/vnd.oasis.opendocument.presentation", "odp"),
    ("application/vnd.oasis.opendocument.spreadsheet", "ods"),
)
_MANIFEST_BYTES = 1 << 20
_TEXT_PROBE = 64 * 1024


def office_format(suffix: str) -> Format:
    """The Format read through LibreOffice for a suffix such as ``"pptx"``."""
    kind: DocumentKind = _OFFICE[suffix]  # type: ignore[assignment]
    return Format(suffix, kind, "office")


def sniff(data: bytes, file_name: str) -> Format:
    """What the bytes are; refuse what folio cannot read with a message that says why."""
    if not data:
        raise EmptyDocument(f"{file_name} is empty (0 bytes); share the file again.")
    if b"%PDF-" in data[:1024]:
        return PDF
    if image_kind(data) is not None:
        return IMAGE
    found = _container(data, file_name) or _text(data, file_name)
    if found is not None:
        return found
    what = describe(data)
    if file_name.lower().endswith(".pdf"):
        raise CorruptDocument(
            f"{file_name} is not a PDF (it looks like {what}); "
            "download or export the real PDF and share it again.",
            detail=f"not a PDF: {what}",
        )
    raise UnsupportedFile(
        f"folio can't read {file_name} (it looks like {what}); it reads {SUPPORTED_FORMATS}. "
        "Export it as a PDF and share it again.",
        detail=f"unsupported: {what}",
    )


def image_kind(data: bytes) -> str | None:
    """Which picture format the bytes start with, in words, or None."""
    for magic, what in _IMAGE_MAGIC:
        if data.startswith(magic):
            return what
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "a WebP picture"
    return None


def _container(data: bytes, file_name: str) -> Format | None:
    """Office files: ZIP (OOXML, OpenDocument), OLE (old Office) or RTF."""
    if data.startswith(b"PK\x03\x04"):
        suffix = _zip_format(data, file_name)
    elif data.startswith(OLE_MAGIC):
        suffix = _ole_format(data, file_name)
    elif data.startswith(b"{\\rtf"):
        suffix = "rtf"
    else:
        return None
    return office_format(suffix) if suffix else None


def _zip_format(data: bytes, file_name: str) -> str | None:
    try:
        with zipfile.ZipFile(BytesIO(data)) as archive:
            names = archive.namelist()
            mimetype = _member(archive, "mimetype", 200) if "mimetype" in names else b""
            manifest = b""
            if "META-INF/manifest.xml" in names:
                manifest = _member(archive, "META-INF/manifest.xml", _MANIFEST_BYTES)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError):
        if PurePosixPath(file_name.lower()).suffix in OFFICE_SUFFIXES:
            raise _damaged(file_name) from None
        return None
    if b"encryption-data" in manifest:
        raise _encrypted(file_name)
    text = mimetype.decode("ascii", "replace").strip()
    for media_type, suffix in _ODF:
        if text == media_type:
            return suffix
    if "[Content_Types].xml" in names:
        for prefix, suffix in _OOXML:
            if any(name.startswith(prefix) for name in names):
                return suffix
    return None


def _member(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    # Read a bounded prefix only: a member may be a decompression bomb.
    with archive.open(name) as member:
        return member.read(limit)


def _ole_format(data: bytes, file_name: str) -> str | None:
    for stream, suffix in _OLE_STREAMS:
        if stream.encode("utf-16-le") in data:
            if suffix is None:
                raise _encrypted(file_name)
            return suffix
    return None


def _text(data: bytes, file_name: str) -> Format | None:
    suffix = TEXT_SUFFIXES.get(PurePosixPath(file_name.lower()).suffix)
    if suffix is None or decode_text(data[:_TEXT_PROBE], probe=True) is None:
        return None
    if suffix == "csv":
        return office_format("csv")
    return Format(suffix, "text", "text")


def decode_text(data: bytes, *, probe: bool = False) -> str | None:
    """The bytes as text (UTF-8 or UTF-16 with a BOM, else UTF-8, else Windows-1252).

    None when they are not text at all (NUL bytes, or other control characters).
    ``probe`` tolerates a character cut at the end of a prefix.
    """
    for bom, codec in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le")):
        if data.startswith(bom):
            return data[len(bom) :].decode(codec, "replace")
    if data.startswith(codecs.BOM_UTF16_BE):
        return data[2:].decode("utf-16-be", "replace")
    if b"\x00" in data:
        return None
    try:
        decoder = codecs.getincrementaldecoder("utf-8")()
        text = decoder.decode(data, final=not probe)
    except UnicodeDecodeError:
        text = data.decode("cp1252", "replace")
    controls = sum(1 for c in text[:4096] if ord(c) < 32 and c not in "\t\r\n\f")
    return None if controls > 8 else text


def describe(data: bytes) -> str:
    """A guess at what the bytes are, for messages."""
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in head:
        return "a web page, perhaps a login page"
    if data.startswith(b"PK\x03\x04"):
        return "a ZIP archive"
    if data.startswith(OLE_MAGIC):
        return "an old Microsoft Office file of an unknown kind"
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftyphevc"):
        return "a HEIC photo (save it as JPEG)"
    if b"<svg" in head:
        return "an SVG drawing"
    for magic, what in _OTHER_MAGIC:
        if data.startswith(magic):
            return what
    if decode_text(data[:4096], probe=True) is None:
        return "an unknown kind of file"
    return "plain text"


def _damaged(file_name: str) -> CorruptDocument:
    return CorruptDocument(
        f"{file_name} could not be read; it looks damaged or cut off (an incomplete "
        "download?). Save or download it again and share it again.",
        detail="unreadable ZIP container",
    )


def _encrypted(file_name: str) -> EncryptedDocument:
    return EncryptedDocument(
        f"{file_name} is password-protected; upload an unlocked copy.",
        detail="encrypted Office document",
    )
