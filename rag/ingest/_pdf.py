"""PDFs with PyMuPDF: text blocks with boxes, a page render, and figures for every page."""

from __future__ import annotations

import logging
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from rag._images import MAX_RENDER_SIDE
from rag._mupdf import pymupdf
from rag.errors import (
    CorruptDocument,
    EmptyDocument,
    EncryptedDocument,
    PageTooLarge,
    TooManyPages,
)
from rag.ingest._figures import find_figures
from rag.ingest._headings import Line, sections
from rag.ingest._tables import Cell, Table, find_tables, union
from rag.ingest._visual import pixmap_png, visual_zoom
from rag.settings import ParseLimits
from rag.types import BBox, Figure, ParsedDocument, ParsedPage, TableRow, TextBlock

logger = logging.getLogger(__name__)

# Clip to the page; without TEXT_PRESERVE_LIGATURES, "ﬁ" comes out as "fi".
_TEXT_FLAGS = pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP
# What PyMuPDF raises for bad bytes: FileDataError (a RuntimeError), MuPDF's own errors.
_MUPDF_ERRORS = (RuntimeError, ValueError, pymupdf.mupdf.FzErrorBase)


def parse_pdf(data: bytes, file_name: str, limits: ParseLimits) -> ParsedDocument:
    """Every page of a PDF, parsed; bad files raise the DocumentError that says why."""
    with _opened(data, file_name) as doc:
        count = doc.page_count
        if count == 0:
            raise _damaged(file_name) if doc.is_repaired else _empty(file_name)
        if count > limits.max_pages:
            raise TooManyPages(
                f"{file_name} has {count} pages; folio reads up to {limits.max_pages}. "
                "Split it into smaller files and share those.",
                detail=f"{count} pages",
            )
        if doc.is_repaired and _all_blank(doc):
            # MuPDF rebuilt a cut-off file into pages with nothing on them.
            raise _damaged(file_name)
        pages = [_parse_page(doc, i, file_name, limits) for i in range(count)]
    return ParsedDocument(kind="pdf", pages=_with_sections(pages))


def _with_sections(
    pages: list[tuple[ParsedPage, list[tuple[Line, ...]]]],
) -> tuple[ParsedPage, ...]:
    """Each block given the heading path it sits in, read from the fonts of all pages."""
    fonts = [lines for _, page_lines in pages for lines in page_lines]
    paths = iter(sections(fonts, pages=len(pages)))
    return tuple(
        replace(page, blocks=tuple(replace(b, section=next(paths)) for b in page.blocks))
        for page, _ in pages
    )


@contextmanager
def _opened(data: bytes, file_name: str) -> Iterator[Any]:
    try:
        doc = pymupdf.open(stream=data, filetype="pdf")
    except _MUPDF_ERRORS as exc:
        raise _damaged(file_name) from _unless_memory(exc)
    try:
        if doc.needs_pass:
            raise EncryptedDocument(
                f"{file_name} is password-protected; upload an unlocked copy.",
                detail="PDF needs a password",
            )
        yield doc
    finally:
        doc.close()


def _parse_page(
    doc: Any, index: int, file_name: str, limits: ParseLimits
) -> tuple[ParsedPage, list[tuple[Line, ...]]]:
    number = index + 1
    try:
        page = doc.load_page(index)
        rect = page.rect
        _check_size(rect, number, file_name, limits)
        blocks, lines = _text_blocks(page)
        parsed = ParsedPage(
            number=number,
            width=float(rect.width),
            height=float(rect.height),
            blocks=blocks,
            render_png=pixmap_png(
                render_pixmap(
                    page,
                    dpi=limits.render_dpi,
                    max_side=MAX_RENDER_SIDE,
                    visual_side=limits.visual_side,
                ),
                limits.visual_side,
            ),
            figures=_figures(page, number, limits.visual_side),
        )
        return parsed, lines
    except _MUPDF_ERRORS as exc:
        raise CorruptDocument(
            f"Page {number} of {file_name} could not be read; the file may be damaged. "
            "Re-export it as a PDF and share it again.",
            detail=f"page {number}: {type(exc).__name__}: {exc}",
        ) from _unless_memory(exc)


def _figures(page: Any, number: int, visual_side: int | None) -> tuple[Figure, ...]:
    # Figures are extra: a page whose pictures MuPDF cannot cut out still has its text.
    try:
        return find_figures(page, number, visual_side=visual_side)
    except _MUPDF_ERRORS as exc:
        _unless_memory(exc)
        logger.warning("figures skipped on page %d: %s: %s", number, type(exc).__name__, exc)
        return ()


def _check_size(rect: Any, number: int, file_name: str, limits: ParseLimits) -> None:
    # Checked before any rendering: a 200-inch page would need gigabytes of pixels.
    limit = limits.max_page_points
    for side, size in (("wide", rect.width), ("tall", rect.height)):
        if size > limit:
            raise PageTooLarge(
                f"Page {number} of {file_name} is {size:.0f} pt {side} (folio reads pages "
                f"up to {limit:.0f} pt); export it at a normal page size and share it again.",
                detail=f"page {number} is {rect.width:.0f} x {rect.height:.0f} pt",
            )


def _text_blocks(page: Any) -> tuple[tuple[TextBlock, ...], list[tuple[Line, ...]]]:
    """The page's text blocks, and each one's lines with their fonts (to find headings).

    A table's rows become blocks of their own (with no fonts: a bold row label is no
    heading), placed after the block where the table starts.
    """
    raw, cells = _dict_blocks(page)
    tables = find_tables(cells)
    table_of = {key: i for i, table in enumerate(tables) for key in table.keys}
    blocks, fonts, placed = [], [], set()
    for box, lines in raw:
        kept = [(cell, font) for cell, font in lines if cell.key not in table_of]
        clean = normalise_text(" ".join(font.text for _, font in kept))
        if len(kept) < len(lines) and kept:
            box = union([cell.bbox for cell, _ in kept])
        if clean:
            blocks.append(TextBlock(clean, box))
            fonts.append(tuple(font for _, font in kept))
        for i in dict.fromkeys(table_of[c.key] for c, _ in lines if c.key in table_of):
            if i not in placed:
                placed.add(i)
                rows = _row_blocks(i, tables[i])
                blocks.extend(rows)
                fonts.extend(() for _ in rows)
    return tuple(blocks), fonts


def _dict_blocks(page: Any) -> tuple[list[tuple[BBox, list[tuple[Cell, Line]]]], list[Cell]]:
    """Each text block's box and its lines, each line also as a ``Cell`` with its box."""
    place = _placer(page)
    raw: list[tuple[BBox, list[tuple[Cell, Line]]]] = []
    cells: list[Cell] = []
    for block in page.get_text("dict", sort=True, flags=_TEXT_FLAGS)["blocks"]:
        if block.get("type") != 0:
            continue
        box = place(block["bbox"])
        if box.x0 >= box.x1 or box.y0 >= box.y1:
            continue
        lines = []
        for line in block["lines"]:
            font = _line(line)
            if font is not None:
                cell = Cell(len(cells), font.text, place(line["bbox"]))
                cells.append(cell)
                lines.append((cell, font))
        raw.append((box, lines))
    return raw, cells


def _placer(page: Any) -> Callable[[Sequence[float]], BBox]:
    """A box from PyMuPDF's text as shown on ``page``: rotated as shown, cut to the page.

    ``(Rect(box) * page.rotation_matrix) & page.rect``; on an unrotated page a valid box
    cuts with plain min and max, as MuPDF does, without PyMuPDF's Rect objects (a tenth
    of a page's parse went to building them: 750k on the 962 pages of financebench).
    """
    turn, area = page.rotation_matrix, page.rect

    def exact(box: Sequence[float]) -> BBox:
        rect = (pymupdf.Rect(box) * turn) & area
        return BBox(rect.x0, rect.y0, rect.x1, rect.y1)

    if tuple(turn) != tuple(pymupdf.Identity):
        return exact
    left, top, right, bottom = area

    def place(box: Sequence[float]) -> BBox:
        x0, y0, x1, y1 = box
        if x0 < x1 and y0 < y1:
            return BBox(max(x0, left), max(y0, top), min(x1, right), min(y1, bottom))
        return exact(box)

    return place


def _row_blocks(index: int, table: Table) -> list[TextBlock]:
    return [
        TextBlock(
            " ".join(cell for cell in cells if cell),
            box,
            row=TableRow(index, cells, table.header, table.title),
        )
        for cells, box in zip(table.rows, table.boxes, strict=True)
    ]


def _line(line: dict[str, Any]) -> Line | None:
    """A line's text, the size most of its characters use, and whether they are all bold."""
    sizes: Counter[float] = Counter()
    bold = 0
    for span in line["spans"]:
        count = len(span["text"].strip())
        sizes[round(span["size"], 1)] += count
        if span["flags"] & pymupdf.TEXT_FONT_BOLD or "bold" in span["font"].lower():
            bold += count
    text = normalise_text("".join(span["text"] for span in line["spans"]))
    total = sum(sizes.values())
    if not text or not total:
        return None
    return Line(text, sizes.most_common(1)[0][0], bold >= 0.9 * total)


def normalise_text(text: str) -> str:
    """NFKC (ligatures, full-width forms, odd spaces) and single spaces between words."""
    return " ".join(unicodedata.normalize("NFKC", text).replace("\ufffd", " ").split())


def render_pixmap(page: Any, *, dpi: int, max_side: int, visual_side: int | None = None) -> Any:
    """The page as an RGB pixmap at ``dpi``, no side over ``max_side`` pixels.

    With ``visual_side`` (the render only feeds CLIP) at most what ``visual_zoom`` needs.
    """
    rect = page.rect
    zoom = min(dpi / 72, max_side / max(rect.width, rect.height, 1.0))
    zoom = visual_zoom(rect, zoom, visual_side)
    return page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), alpha=False)


def _all_blank(doc: Any) -> bool:
    # The bbox log lists everything a page draws; empty means nothing shows at all.
    return all(not doc.load_page(i).get_bboxlog() for i in range(doc.page_count))


def _unless_memory(exc: BaseException) -> BaseException:
    message = str(exc).lower()
    if "malloc" in message or "out of memory" in message:
        # The memory limit was hit inside MuPDF: report it as memory, not a bad file.
        raise MemoryError(str(exc)) from exc
    return exc


def _damaged(file_name: str) -> CorruptDocument:
    return CorruptDocument(
        f"{file_name} could not be read; it looks damaged or cut off (an incomplete "
        "download?). Download or export it again and share it again."
    )


def _empty(file_name: str) -> EmptyDocument:
    return EmptyDocument(f"{file_name} has no pages; share a PDF with at least one page.")
