"""Tables found in a page's text layer: rows of cells lined up in numeric columns.

Filings set their tables as text: every cell is a line of its own, at the height of its
row. A run of rows with two or more cells, at least some holding amounts, under one
another with no gap is a table; the rows just above it whose cells hold no amounts
(dates, years, "Year Ended December 31,") are its header, and the line or two above
those (its caption, "(in millions)") its title. Amounts line up on their right edges,
which makes the columns. Reading the text layer costs microseconds a page; PyMuPDF's
``find_tables`` (which reads the drawn lines too) took 0.3-0.9 s a page on filings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from rag.types import BBox

_AMOUNT = re.compile(r"^[(\-−–]?[$€£]?\s*(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?\s*%?\)?%?$")
_DASH = re.compile(r"^[-—–−]+$")
_YEAR = re.compile(r"^(?:19|20)\d\d$")
_CURRENCY = re.compile(r"^[$€£]+$")
_STRIP = " $€£"
MIN_ROWS = 3  # rows with amounts a table needs
_MAX_LABEL_WORDS = 12  # a label row inside a table ("Operating expenses:"), not prose
_MAX_HEADER_ROWS = 3
_MAX_TITLE_WORDS = 16
_COLUMN_TOLERANCE = 14.0  # points between right edges of one column's amounts


@dataclass(frozen=True, slots=True)
class Cell:
    """One line of text on the page: a table cell when it sits in a table's row."""

    key: int  # the caller's id for the line
    text: str
    bbox: BBox

    @property
    def middle(self) -> float:
        """The vertical centre of the line."""
        return (self.bbox.y0 + self.bbox.y1) / 2


@dataclass(slots=True)
class _Row:
    cells: list[Cell] = field(default_factory=list)

    @property
    def top(self) -> float:
        return min(c.bbox.y0 for c in self.cells)

    @property
    def bottom(self) -> float:
        return max(c.bbox.y1 for c in self.cells)

    @property
    def amounts(self) -> int:
        return sum(any(not _YEAR.match(a) for a in amounts(c.text)) for c in self.cells)

    @property
    def numbers(self) -> int:
        return sum(is_amount(c.text) or bool(_DASH.match(c.text)) for c in self.cells)


@dataclass(frozen=True, slots=True)
class Table:
    """A table of a page: title, header cells per column, rows as label plus column values."""

    title: str
    header: tuple[str, ...]  # the label column's header first, then one per column
    rows: tuple[tuple[str, ...], ...]  # the label first, then one value per column
    boxes: tuple[BBox, ...]  # each row's box
    keys: frozenset[int]  # the lines the table took: its header's and rows'
    top: float


def is_amount(text: str) -> bool:
    """A cell that holds one number: "1,234.5", "$104.2", "(12)", "12%", "2023"."""
    return bool(_AMOUNT.match(text.strip(_STRIP)))


def amounts(text: str) -> list[str]:
    """The numbers of a cell made only of numbers ("1,603,451 1,499,218"), else none."""
    words = [w for w in text.split() if not _CURRENCY.match(w)]
    if words and all(is_amount(w) for w in words):
        return [w.strip(_STRIP) for w in words]
    return []


def find_tables(cells: Sequence[Cell]) -> list[Table]:
    """The tables among a page's lines, top to bottom."""
    rows = _rows(cells)
    tables, start = [], 0
    while start < len(rows):
        end = _table_end(rows, start)
        body = rows[start:end]
        if sum(r.amounts > 0 for r in body) >= MIN_ROWS:
            header, labels = _header(rows, start)
            tables.append(_table(cells, header, [*labels, *body]))
            start = end
        else:
            start += 1
    return tables


def _rows(cells: Sequence[Cell]) -> list[_Row]:
    """Lines grouped into rows: a line joins the row whose centre is within its half-height."""
    rows: list[_Row] = []
    for cell in sorted(cells, key=lambda c: (c.middle, c.bbox.x0)):
        if not cell.text.strip():
            continue
        last = rows[-1] if rows else None
        half = (cell.bbox.y1 - cell.bbox.y0) / 2
        if last is not None and abs(cell.middle - last.cells[0].middle) <= half:
            last.cells.append(cell)
        else:
            rows.append(_Row([cell]))
    for row in rows:
        row.cells.sort(key=lambda c: c.bbox.x0)
    return rows


def _table_end(rows: Sequence[_Row], start: int) -> int:
    """Where the run of table rows that begins at ``start`` ends (exclusive)."""
    if not _is_body_row(rows[start]):
        return start + 1
    end = start + 1
    for i in range(start + 1, len(rows)):
        row, above = rows[i], rows[i - 1]
        gap = row.top - above.bottom
        if gap > 2.5 * (above.bottom - above.top):
            break
        if _is_body_row(row):
            end = i + 1
        elif not _is_label_row(row):
            break
    return end


def _is_body_row(row: _Row) -> bool:
    return len(row.cells) >= 2 and row.numbers > 0 and row.amounts > 0


def _is_label_row(row: _Row) -> bool:
    text = " ".join(c.text for c in row.cells)
    return len(text.split()) <= _MAX_LABEL_WORDS and not text.rstrip().endswith(".")


def _header(rows: Sequence[_Row], start: int) -> tuple[list[_Row], list[_Row]]:
    """The rows right above a table that hold no amounts: its header (dates, years, column
    names), and below that any lone labels at the labels' edge ("Assets", "Current assets:")
    that open its first rows."""
    header: list[_Row] = []
    labels: list[_Row] = []
    below, edge = rows[start], _label_edge(rows[start])
    for i in range(start - 1, max(start - 1 - 2 * _MAX_HEADER_ROWS, -1), -1):
        row = rows[i]
        gap = below.top - row.bottom
        if gap > 1.5 * (row.bottom - row.top) or row.amounts or not _is_label_row(row):
            break
        if len(row.cells) < 2 and row.cells[0].bbox.x0 < edge:
            if header or len(labels) == _MAX_HEADER_ROWS:
                break  # a line starting left of the values above the header: a caption
            labels.insert(0, row)
        elif len(header) < _MAX_HEADER_ROWS:
            header.insert(0, row)
        else:
            break
        below = row
    if not header:
        return [], []  # no header: the labels are more likely a caption than a table's
    return header, labels


def _label_edge(row: _Row) -> float:
    """Where the values begin: the first amount's left edge."""
    return next((c.bbox.x0 for c in row.cells if is_amount(c.text)), row.cells[-1].bbox.x0)


def _table(cells: Sequence[Cell], header: list[_Row], body: list[_Row]) -> Table:
    columns = _columns(body)
    heads = [""] * (len(columns) + 1)
    spanning = []
    for row in header:
        for cell in row.cells:
            if _spans(cell, columns):
                spanning.append(cell.text.strip())
                continue
            slot = _slot(cell, columns)
            heads[slot] = f"{heads[slot]} {cell.text.strip()}".strip()
    top = (header or body)[0].top
    rendered = [_values(row, columns) for row in body]
    return Table(
        title=" ".join(part for part in (_title(cells, top), *spanning) if part),
        header=tuple(heads),
        rows=tuple(rendered),
        boxes=tuple(union([c.bbox for c in row.cells]) for row in body),
        keys=frozenset(c.key for row in [*header, *body] for c in row.cells),
        top=top,
    )


def _columns(body: Sequence[_Row]) -> list[float]:
    """The right edges the amounts line up on, left to right."""
    edges = sorted(
        c.bbox.x1
        for row in body
        for c in row.cells
        if len(amounts(c.text)) == 1 or _DASH.match(c.text.strip(_STRIP))
    )
    groups: list[list[float]] = []
    for edge in edges:
        if groups and edge - groups[-1][-1] <= _COLUMN_TOLERANCE:
            groups[-1].append(edge)
        else:
            groups.append([edge])
    return [sum(g) / len(g) for g in groups]


def _slot(cell: Cell, columns: Sequence[float]) -> int:
    """0 for the label column, else 1 + the column whose right edge is nearest."""
    if not columns or cell.bbox.x1 < columns[0] - 3 * _COLUMN_TOLERANCE:
        return 0
    nearest = min(range(len(columns)), key=lambda i: abs(columns[i] - cell.bbox.x1))
    return nearest + 1


def _spans(cell: Cell, columns: Sequence[float]) -> bool:
    """A header over several columns ("Year Ended December 31,")."""
    inside = [x for x in columns if cell.bbox.x0 - _COLUMN_TOLERANCE <= x <= cell.bbox.x1]
    return len(inside) >= 2


def _values(row: _Row, columns: Sequence[float]) -> tuple[str, ...]:
    out = [""] * (len(columns) + 1)
    peeled: list[str] = []
    for cell in row.cells:
        text = cell.text.strip()
        if _CURRENCY.match(text):
            continue  # "$" set in a cell of its own
        values = amounts(text)
        if len(values) > 1:
            # Several amounts in one line: they end in the columns up to the line's end.
            upto = [i + 1 for i, x in enumerate(columns) if x <= cell.bbox.x1 + _COLUMN_TOLERANCE]
            for value, place in zip(reversed(values), reversed(upto), strict=False):
                out[place] = value
            continue
        if values or _DASH.match(text.strip(_STRIP)):
            slot = _slot(cell, columns)
            text = text.strip(_STRIP)
        else:
            text, trailing = _peel(text)
            peeled.extend(trailing)
            slot = 0
        out[slot] = f"{out[slot]} {text}".strip()
    # Amounts set on the label's line take the columns no cell of their own took.
    empty = [i for i in range(1, len(out)) if not out[i]]
    for value, place in zip(peeled, empty, strict=False):
        out[place] = value
    return tuple(out)


def _peel(text: str) -> tuple[str, list[str]]:
    """A label with amounts on its line: "Total assets 5,370,411 4,764,379" -> label, amounts."""
    words = text.split()
    values: list[str] = []
    while len(words) > 1 and (is_amount(words[-1]) or _CURRENCY.match(words[-1])):
        word = words.pop()
        if not _CURRENCY.match(word):
            values.insert(0, word.strip(_STRIP))
    return " ".join(words), values


def _title(cells: Sequence[Cell], top: float) -> str:
    """The last few lines right above the table (its caption), at most a few words.

    The caption stays in the page's prose too: it also names the section it opens.
    """
    above = [c for c in cells if c.bbox.y1 <= top + 1 and top - c.bbox.y1 <= 45 and c.text.strip()]
    above.sort(key=lambda c: (c.bbox.y0, c.bbox.x0))
    chosen = above[-3:]
    while chosen and sum(len(c.text.split()) for c in chosen) > _MAX_TITLE_WORDS:
        chosen.pop(0)
    return " ".join(c.text.strip() for c in chosen)


def union(boxes: Sequence[BBox]) -> BBox:
    """The smallest box around ``boxes``."""
    return BBox(
        min(b.x0 for b in boxes),
        min(b.y0 for b in boxes),
        max(b.x1 for b in boxes),
        max(b.y1 for b in boxes),
    )


def markdown(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table passage as Markdown: the title in bold, the header row, then the rows."""
    width = max([len(header), *(len(r) for r in rows)])
    lines = [f"**{title}**"] if title else []
    if any(header):
        lines.append(_md_row(header, width))
        lines.append("|" + " --- |" * width)
    lines.extend(_md_row(row, width) for row in rows)
    return "\n".join(lines)


def _md_row(cells: Sequence[str], width: int) -> str:
    padded = [*cells, *[""] * (width - len(cells))]
    return "| " + " | ".join(c.replace("|", "/") for c in padded) + " |"
