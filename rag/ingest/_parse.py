"""Untrusted bytes -> ParsedDocument: size cap, then sniffing, conversion and parsing in children.

``parse_document`` is what ingestion calls. It checks the size in-process, then runs
``parse_sync`` in a fresh child process under the time and memory limits of ``ParseLimits``
(see ``rag.ingest._isolate``): sniffing (magic bytes, the inside of ZIP and OLE files),
LibreOffice for Office files, PyMuPDF's layout for text, then PyMuPDF for every page.
Pages without a text layer are then read by OCR in further children, each under the same
limits, so a long scan is not cut short by one deadline. ``parse_sync`` is the first step
in-process, for the child and for tests.

A batch (``Ingestor.ingest_many``) passes a ``ChildPool``: its one child parses file after
file without an interpreter start and imports each time (~0.3 s of a core per file, and the
OCR model's load per scanned file). A file that crashes that child or runs it out of memory
is parsed again in a fresh child, which alone may say the file is at fault: a long-lived
child carries what earlier files left in its heap.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any, Literal, TypeVar

from rag._units import byte_size
from rag.errors import DocumentError, FileTooLarge, ParseCrashed, ParseTimeout
from rag.ingest._child import INGEST_NICE
from rag.ingest._isolate import ChildPool, read_timeout, run_isolated
from rag.ingest._sniff import Format, sniff
from rag.settings import ParseLimits
from rag.types import ParsedDocument, TextBlock

logger = logging.getLogger(__name__)

T = TypeVar("T")

__all__ = ["content_hash", "parse_document", "parse_sync", "sniff"]

# Share of the child's deadline one OCR child spends before it hands back what it read.
_OCR_BUDGET = 0.5
# Pages in a row OCR may fail on before it is taken as broken here (and left out).
_OCR_FAILURES = 3
# Share of the child's deadline LibreOffice may take (the rest parses its PDF).
_CONVERT_BUDGET = 0.7


def content_hash(data: bytes) -> str:
    """SHA-256 of the bytes, hex: the identity of a file's content."""
    return hashlib.sha256(data).hexdigest()


async def parse_document(
    data: bytes,
    file_name: str,
    limits: ParseLimits,
    *,
    nice: int = INGEST_NICE,
    pool: ChildPool | None = None,
) -> ParsedDocument:
    """Check and parse one untrusted file in child processes under ``limits``.

    ``nice``: the one-shot children's niceness over this process's (lower priority beside
    a server and beside the embedders; 0 where nothing else runs, as before `folio ingest`
    has loaded its models). ``pool``: run in its child instead (a batch; its own niceness).
    """
    _check_size(data, file_name, limits)
    started = time.monotonic()
    isolated = partial(_isolated, limits=limits, label=file_name, nice=nice, pool=pool)
    parsed = await isolated(parse_sync, data, file_name, limits)
    parsed = await _read_scanned(parsed, data, file_name, limits, isolated)
    logger.info(
        "parsed a %s of %d bytes: %d pages (%d by OCR), %d figures in %.2f s",
        parsed.kind,
        len(data),
        len(parsed.pages),
        sum(page.ocr for page in parsed.pages),
        parsed.figure_count,
        time.monotonic() - started,
    )
    return parsed


def parse_sync(data: bytes, file_name: str, limits: ParseLimits) -> ParsedDocument:
    """Parse in this process (the child's work): text, boxes, renders and figures.

    Pages that need OCR are marked (``ParsedPage.ocr``) but not read here; ``read_scanned``
    does that.
    """
    _check_size(data, file_name, limits)
    fmt = sniff(data, file_name)
    if fmt.route == "image":
        from rag.ingest._image import parse_image

        parsed = parse_image(data, file_name, limits)
        return _marked(parsed, (1,) if limits.ocr else ())
    pdf = _as_pdf(data, fmt, file_name, limits)
    from rag.ingest._pdf import parse_pdf  # PyMuPDF loads only where a PDF is parsed

    parsed = parse_pdf(pdf, file_name, limits)
    rendition = None if pdf is data else pdf
    parsed = dataclasses.replace(parsed, kind=fmt.kind, rendition=rendition)
    if not limits.ocr:
        return parsed
    from rag.ingest._ocr import scanned_pages

    return _marked(parsed, scanned_pages(pdf, parsed))


def read_scanned_sync(parsed: ParsedDocument, data: bytes) -> ParsedDocument:
    """OCR every page marked as scanned, in this process (tests and benchmarks)."""
    from rag.ingest._ocr import read_pages, with_ocr

    numbers = [page.number for page in parsed.pages if page.ocr]
    found = read_pages(*_ocr_source(parsed, data), numbers, budget_s=float("inf"))
    pages = tuple(with_ocr(p, found[p.number]) if p.number in found else p for p in parsed.pages)
    return dataclasses.replace(parsed, pages=pages)


def _as_pdf(data: bytes, fmt: Format, file_name: str, limits: ParseLimits) -> bytes:
    if fmt.route == "office":
        from rag.ingest._office import convert_to_pdf

        return convert_to_pdf(data, fmt, file_name, timeout_s=limits.timeout_s * _CONVERT_BUDGET)
    if fmt.route == "text":
        from rag.ingest._text import text_to_pdf

        return text_to_pdf(data, fmt, file_name, max_pages=limits.max_pages)
    return data


def _marked(parsed: ParsedDocument, numbers: tuple[int, ...]) -> ParsedDocument:
    wanted = set(numbers)
    pages = tuple(
        dataclasses.replace(page, ocr=True) if page.number in wanted else page
        for page in parsed.pages
    )
    return dataclasses.replace(parsed, pages=pages)


async def _isolated(
    fn: Callable[..., T],
    *args: Any,
    limits: ParseLimits,
    label: str,
    nice: int,
    pool: ChildPool | None,
) -> T:
    """``fn(*args)`` in ``pool``'s child, or in a fresh one (see the module docstring)."""
    if pool is not None:
        try:
            return await pool.run(fn, *args, timeout_s=limits.timeout_s, label=label)
        except ParseTimeout as exc:
            raise read_timeout(label, limits.timeout_s, detail=exc.detail) from None
        except ParseCrashed as exc:
            logger.info("parsing %s again in a fresh child: %s", label, exc.detail)
    return await run_isolated(
        fn, *args, timeout_s=limits.timeout_s, memory_mb=limits.memory_mb, label=label, nice=nice
    )


async def _read_scanned(
    parsed: ParsedDocument,
    data: bytes,
    file_name: str,
    limits: ParseLimits,
    isolated: Callable[..., Any],
) -> ParsedDocument:
    """OCR the marked pages in children, a batch per child, until every page is read."""
    todo = [page.number for page in parsed.pages if page.ocr]
    if not todo:
        return parsed
    from rag.ingest._ocr import read_pages, with_ocr

    found: dict[int, tuple[TextBlock, ...]] = {}
    pdf, source = _ocr_source(parsed, data)
    failures = 0
    while todo and failures < _OCR_FAILURES:
        try:
            batch = await isolated(read_pages, pdf, source, todo, limits.timeout_s * _OCR_BUDGET)
        except DocumentError as exc:
            # That page alone was too much (time, memory, a reader crash): it keeps its
            # picture, which CLIP still indexes, and the other pages are read.
            logger.warning("OCR gave up on page %d: %s", todo[0], exc.detail or exc)
            batch = {todo[0]: ()}
            failures += 1
        else:
            failures = 0
        found.update(batch)
        todo = [number for number in todo if number not in found]
    pages = tuple(with_ocr(p, found[p.number]) if p.number in found else p for p in parsed.pages)
    return dataclasses.replace(parsed, pages=pages)


def _ocr_source(parsed: ParsedDocument, data: bytes) -> tuple[bytes, Literal["pdf", "image"]]:
    if parsed.kind == "image":
        return data, "image"
    return parsed.rendition or data, "pdf"


def _check_size(data: bytes, file_name: str, limits: ParseLimits) -> None:
    if len(data) > limits.max_bytes:
        raise FileTooLarge(
            f"{file_name} is {byte_size(len(data))}; folio reads files up to "
            f"{byte_size(limits.max_bytes)}. Split or compress it and share it again.",
            detail=f"{len(data)} bytes",
        )
