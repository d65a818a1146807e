"""Split parsed pages into passages of about ``max_words`` words, keeping their boxes.

A passage ends where a new section starts (a block under other headings) once it has
``MIN_WORDS``: passages follow the document's sections without becoming slivers. A
table's rows are passages of their own, ``TABLE_ROWS`` rows each, in Markdown with the
table's title and header row repeated in every one, boxed by the rows they hold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag.ingest._tables import markdown, union
from rag.types import BBox, Chunk, ParsedDocument, ParsedPage, TableRow, TextBlock

DEFAULT_MAX_WORDS = 120
MIN_WORDS = 40
TABLE_ROWS = 6
_NAME_SEPARATORS = re.compile(r"[_\-.]+")


def chunk_document(doc: ParsedDocument, *, max_words: int = DEFAULT_MAX_WORDS) -> list[Chunk]:
    """Every page's chunks, page by page."""
    return [chunk for page in doc.pages for chunk in chunk_page(page, max_words=max_words)]


def chunk_page(page: ParsedPage, *, max_words: int = DEFAULT_MAX_WORDS) -> list[Chunk]:
    """Consecutive blocks grouped into passages of at most ``max_words`` words.

    A block longer than ``max_words`` is split by words; each piece gets the band of the
    block's box that its share of the words covers (a good enough box to highlight).
    Chunk indexes count from 0 on each page.
    """
    if max_words < 1:
        raise ValueError("max_words must be at least 1")
    builder = _Builder(page.number, max_words)
    rows: list[TextBlock] = []
    for block in page.blocks:
        if block.row is not None:
            if rows and _row(rows[-1]).table != block.row.table:
                builder.add_table(rows)
                rows = []
            rows.append(block)
            continue
        if rows:
            builder.add_table(rows)
            rows = []
        words = block.text.split()
        if len(words) > max_words:
            builder.flush()
            builder.add_long_block(block, words)
        else:
            new_section = block.section != builder.section and builder.words >= MIN_WORDS
            if new_section or builder.words + len(words) > max_words:
                builder.flush()
            builder.add(block.text, block.bbox, len(words), block.section)
    if rows:
        builder.add_table(rows)
    builder.flush()
    return builder.chunks


@dataclass
class _Builder:
    """Collects blocks into the chunk being built and the chunks done."""

    page_number: int
    max_words: int
    chunks: list[Chunk] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    boxes: list[BBox] = field(default_factory=list)
    words: int = 0
    section: tuple[str, ...] = ()

    def add(self, text: str, box: BBox, words: int, section: tuple[str, ...]) -> None:
        """Add one block to the chunk being built (a passage's section is its first block's)."""
        if not self.texts:
            self.section = section
        self.texts.append(text)
        self.boxes.append(box)
        self.words += words

    def add_long_block(self, block: TextBlock, words: list[str]) -> None:
        """Emit a long block as pieces of at most ``max_words`` words."""
        total = len(words)
        pieces = -(-total // self.max_words)
        # Even pieces, so the last one is not a stub of a few words.
        size = -(-total // pieces)
        for start in range(0, total, size):
            end = min(start + size, total)
            box = _band(block.bbox, start, end, total)
            self.add(" ".join(words[start:end]), box, end - start, block.section)
            self.flush()

    def add_table(self, rows: list[TextBlock]) -> None:
        """Emit one table's rows as passages of ``TABLE_ROWS`` rows, each titled and headed."""
        self.flush()
        first = _row(rows[0])
        for start in range(0, len(rows), TABLE_ROWS):
            piece = rows[start : start + TABLE_ROWS]
            text = markdown(first.title, first.header, [_row(b).cells for b in piece])
            box = union([b.bbox for b in piece])
            self.add(text, box, len(text.split()), piece[0].section)
            self.flush()

    def flush(self) -> None:
        """Close the chunk being built, if it has any text."""
        if self.texts:
            self.chunks.append(
                Chunk(
                    page_number=self.page_number,
                    index=len(self.chunks),
                    text="\n".join(self.texts),
                    bboxes=tuple(self.boxes),
                    section=self.section,
                )
            )
        self.texts, self.boxes, self.words = [], [], 0


def _row(block: TextBlock) -> TableRow:
    assert block.row is not None  # only table rows are collected
    return block.row


def _band(box: BBox, start: int, end: int, total: int) -> BBox:
    """The horizontal band of ``box`` holding words ``start:end`` of ``total`` (by share)."""
    height = box.y1 - box.y0
    return BBox(box.x0, box.y0 + height * start / total, box.x1, box.y0 + height * end / total)


def table_head(text: str) -> str:
    """A table passage's title and header row (see ``markdown``); "" for other passages."""
    lines = text.split("\n", 3)
    if len(lines) > 2 and lines[0].startswith("**") and lines[1].startswith("| "):
        return "\n".join(lines[:2])
    if len(lines) > 1 and lines[0].startswith("| ") and lines[1].startswith("| ---"):
        return lines[0]
    return ""


def document_header(file_name: str, doc: ParsedDocument, *, words: int = 30) -> str:
    """A short context line for every passage: the file's name and the start of its first page.

    Pages rarely repeat what they belong to ("Ulta Beauty", "Q4 2022"); a document's name
    and opening words usually say it, so each passage is indexed with them in front.
    """
    stem = file_name.rsplit(".", 1)[0]
    name = " ".join(_NAME_SEPARATORS.sub(" ", stem).split())
    opening = " ".join(doc.pages[0].text.split()[:words]) if doc.pages else ""
    return f"{name}. {opening}".strip() if opening else name
