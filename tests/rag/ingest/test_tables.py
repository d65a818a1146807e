"""Tables as tables: real PyMuPDF on PDFs laid out here, then BM25 through the real index."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pymupdf
import pytest
import pytest_asyncio

from rag._services import Services
from rag.ingest._chunk import TABLE_ROWS, chunk_document
from rag.ingest._parse import parse_sync
from rag.ingest._tables import amounts, is_amount, markdown
from rag.settings import ParseLimits
from rag.types import Audience, Chunk, Scope
from tests.fakes import documents
from tests.fakes.services import ingest, open_test_services, settings_for

ROWS = [
    ("Cash and cash equivalents", "1,234.5", "987.6"),
    ("Receivables, net", "$104.2", "$99.1"),
    ("Merchandise inventories", "1,603.4", "1,499.2"),
    ("Prepaid expenses", "38.3", "5.9"),
    ("Total current assets", "2,980.4", "2,591.8"),
    ("Property and equipment, net", "1,009.2", "914.4"),
    ("Goodwill", "10.8", "10.8"),
    ("Restructuring charges", "(12)", "(45)"),
    ("Total assets", "5,370.4", "4,764.3"),
]
INTRO = (
    "The balance sheet below shows the company's assets at the end of the fiscal year, "
    "compared with the year before. Amounts are in millions of dollars."
)


def balance_sheet_pdf() -> bytes:
    """A page of prose, then a titled table: header row of years, values right-aligned."""
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    page.insert_textbox(pymupdf.Rect(72, 72, 540, 120), INTRO, fontsize=11, fontname="helv")
    page.insert_text((72, 160), "Consolidated Balance Sheets", fontsize=14, fontname="hebo")
    page.insert_text((72, 176), "(In millions)", fontsize=10, fontname="helv")
    y = 196.0
    for right, year in ((440, "2023"), (520, "2022")):
        _right_aligned(page, right, y, year, bold=True)
    for label, *values in ROWS:
        y += 16
        page.insert_text((72, y), label, fontsize=10, fontname="helv")
        for right, value in zip((440, 520), values, strict=True):
            _right_aligned(page, right, y, value)
    return bytes(doc.tobytes(no_new_id=True))


def _right_aligned(
    page: pymupdf.Page, right: float, y: float, text: str, bold: bool = False
) -> None:
    font = "hebo" if bold else "helv"
    width = pymupdf.get_text_length(text, fontname=font, fontsize=10)
    page.insert_text((right - width, y), text, fontsize=10, fontname=font)


def _chunks() -> list[Chunk]:
    return chunk_document(parse_sync(balance_sheet_pdf(), "sheet.pdf", ParseLimits()))


def _is_table(chunk: Chunk) -> bool:
    return any(line.startswith("| ") for line in chunk.text.splitlines())


def test_a_table_becomes_passages_of_rows_each_with_its_title_and_header() -> None:
    chunks = _chunks()
    tables = [c for c in chunks if _is_table(c)]
    assert len(tables) == -(-len(ROWS) // TABLE_ROWS) == 2
    for chunk in tables:
        lines = chunk.text.splitlines()
        assert lines[0] == "**Consolidated Balance Sheets (In millions)**"
        assert lines[1:3] == ["|  | 2023 | 2022 |", "| --- | --- | --- |"]
    assert "| Cash and cash equivalents | 1,234.5 | 987.6 |" in tables[0].text
    assert "| Receivables, net | 104.2 | 99.1 |" in tables[0].text  # "$" dropped
    assert "| Restructuring charges | (12) | (45) |" in tables[1].text
    assert sum(line.startswith("| ") for c in tables for line in c.text.splitlines()) == len(
        ROWS
    ) + 2 * len(tables)


def test_table_rows_are_not_also_prose_and_boxes_cover_their_rows() -> None:
    chunks = _chunks()
    prose = [c for c in chunks if not _is_table(c)]
    assert any("balance sheet below" in c.text for c in prose)
    assert not any("1,234.5" in c.text or "Goodwill" in c.text for c in prose)
    first, second = (c for c in chunks if _is_table(c))
    (box,) = first.bboxes
    (later,) = second.bboxes
    # The first passage's box spans its six rows (16 pt apart) and ends above the next's.
    assert box.x0 < 80 and box.x1 > 515
    assert box.y1 - box.y0 > (TABLE_ROWS - 1) * 16
    assert box.y1 <= later.y0


def test_cells_read_as_amounts_the_way_filings_print_them() -> None:
    assert all(map(is_amount, ["1,234.5", "$104.2", "(12)", "(4.8%)", "12%", "2023", "-5"]))
    assert not any(map(is_amount, ["28,", "Q4", "1.2.3", "Net sales", "10-K"]))
    assert amounts("1,603,451 $ 1,499,218") == ["1,603,451", "1,499,218"]
    assert amounts("Total 12") == []


def test_markdown_pads_short_rows_and_escapes_pipes() -> None:
    text = markdown("T", ("", "2023"), [("a|b", "1", "2"), ("c",)])
    assert text.splitlines() == [
        "**T**",
        "|  | 2023 |  |",
        "| --- | --- | --- |",
        "| a/b | 1 | 2 |",
        "| c |  |  |",
    ]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def services(
    tmp_path_factory: pytest.TempPathFactory, tiny_clip_dir: Path, minilm_dir: Path
) -> AsyncIterator[Services]:
    """Services with the balance sheet and a filing of other numbers ingested."""
    settings = settings_for(tmp_path_factory.mktemp("tables"), tiny_clip_dir, minilm_dir)
    async with open_test_services(settings) as opened:
        scope = Scope("T-tables", "C1")
        await ingest(opened, balance_sheet_pdf(), "sheet.pdf", scope)
        await ingest(opened, documents.filing(documents.ULTA), documents.ULTA, scope)
        yield opened


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("query", ["1234.5", "$1,234.5", "cash 1,234.5"])
async def test_bm25_finds_a_table_cells_number_with_the_tables_header(
    services: Services, query: str
) -> None:
    bm25_only = replace(services.settings.retrieval, clip_weight=0, text_weight=0)
    retriever = services.retriever.with_config(bm25_only)
    pages = await retriever.search(query, audience=Audience("T-tables", "C1"))
    assert pages[0].file_name == "sheet.pdf"
    passage = pages[0].passage
    assert "| Cash and cash equivalents | 1,234.5 | 987.6 |" in passage
    assert "|  | 2023 | 2022 |" in passage and "Consolidated Balance Sheets" in passage
