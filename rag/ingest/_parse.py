"""Untrusted bytes -> ParsedDocument: size cap, magic-byte sniffing, parsing in a child.

``parse_document`` is what ingestion calls: it checks what it can cheaply in-process,
then runs ``parse_sync`` in a fresh child process under the time and memory limits of
``ParseLimits`` (see ``rag.ingest._isolate``). ``parse_sync`` is the same work in-process, for
the child and for tests.
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import time
import zipfile
from io import BytesIO

from rag._units import byte_size
from rag.errors import CorruptDocument, EmptyDocument, FileTooLarge, UnsupportedFile
from rag.ingest._isolate import run_isolated
from rag.settings import ParseLimits
from rag.types import DocumentKind, ParsedDocument

logger = logging.getLogger(__name__)

SUPPORTED = "PDFs and PNG, JPEG, WebP, GIF or TIFF pictures"

_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "a PNG picture"),
    (b"\xff\xd8\xff", "a JPEG picture"),
    (b"GIF87a", "a GIF picture"),
    (b"GIF89a", "a GIF picture"),
    (b"II*\x00", "a TIFF picture"),
    (b"MM\x00*", "a TIFF picture"),
)
# Kinds folio cannot read, so that a refusal can say what the file seems to be.
_OTHER_MAGIC = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office document"),
    (b"{\\rtf", "an RTF document"),
    (b"%!PS", "a PostScript file"),
    (b"BM", "a BMP picture"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
)
_ZIP_KINDS = (
    ("word/", "a Word document"),
    ("xl/", "an Excel workbook"),
    ("ppt/", "a PowerPoint presentation"),
)


def content_hash(data: bytes) -> str:
    """SHA-256 of the bytes, hex: the identity of a file's content."""
    return hashlib.sha256(data).hexdigest()


def sniff(data: bytes, file_name: str) -> DocumentKind:
    """What the bytes are (never what the name claims); refuse what folio cannot read."""
    if not data:
        raise EmptyDocument(f"{file_name} is empty (0 bytes); share the file again.")
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if _image_kind(data) is not None:
        return "image"
    what = _describe(data)
    if file_name.lower().endswith(".pdf"):
        raise CorruptDocument(
            f"{file_name} is not a PDF (it looks like {what}); "
            "download or export the real PDF and share it again.",
            detail=f"not a PDF: {what}",
        )
    raise UnsupportedFile(
        f"folio can't read {file_name} (it looks like {what}); it reads {SUPPORTED}. "
        "Export it as a PDF and share it again.",
        detail=f"unsupported: {what}",
    )


async def parse_document(data: bytes, file_name: str, limits: ParseLimits) -> ParsedDocument:
    """Check and parse one untrusted file in a child process under ``limits``."""
    _check_size(data, file_name, limits)
    kind = sniff(data, file_name)
    started = time.monotonic()
    parsed = await run_isolated(
        parse_sync,
        data,
        file_name,
        limits,
        timeout_s=limits.timeout_s,
        memory_mb=limits.memory_mb,
        label=file_name,
    )
    logger.info(
        "parsed a %s of %d bytes: %d pages, %d figures in %.2f s",
        kind,
        len(data),
        len(parsed.pages),
        parsed.figure_count,
        time.monotonic() - started,
    )
    return parsed


def parse_sync(data: bytes, file_name: str, limits: ParseLimits) -> ParsedDocument:
    """Parse in this process (the child's work): text, boxes, renders and figures."""
    _check_size(data, file_name, limits)
    if sniff(data, file_name) == "pdf":
        from rag.ingest._pdf import parse_pdf  # PyMuPDF loads only where a PDF is parsed

        return parse_pdf(data, file_name, limits)
    from rag.ingest._image import parse_image

    return parse_image(data, file_name, limits)


def _check_size(data: bytes, file_name: str, limits: ParseLimits) -> None:
    if len(data) > limits.max_bytes:
        raise FileTooLarge(
            f"{file_name} is {byte_size(len(data))}; folio reads files up to "
            f"{byte_size(limits.max_bytes)}. Split or compress it and share it again.",
            detail=f"{len(data)} bytes",
        )


def _image_kind(data: bytes) -> str | None:
    for magic, what in _IMAGE_MAGIC:
        if data.startswith(magic):
            return what
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "a WebP picture"
    return None


def _describe(data: bytes) -> str:
    """A guess at what the bytes are, for messages."""
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in head:
        return "a web page, perhaps a login page"
    if data.startswith(b"PK\x03\x04"):
        return _zip_kind(data)
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftyphevc"):
        return "a HEIC photo (save it as JPEG)"
    if b"<svg" in head:
        return "an SVG drawing"
    for magic, what in _OTHER_MAGIC:
        if data.startswith(magic):
            return what
    try:
        # Incremental, so a character cut at the 4 KiB mark is not an error.
        codecs.getincrementaldecoder("utf-8")().decode(data[:4096], final=False)
    except UnicodeDecodeError:
        return "an unknown kind of file"
    return "plain text"


def _zip_kind(data: bytes) -> str:
    try:
        with zipfile.ZipFile(BytesIO(data)) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return "a ZIP archive"
    for prefix, what in _ZIP_KINDS:
        if any(name.startswith(prefix) for name in names):
            return what
    return "a ZIP archive"
