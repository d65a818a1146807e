"""Headings from fonts: a passage is indexed with the heading path it sits under."""

from __future__ import annotations

import pymupdf

from rag._text import terms
from rag.embed import Bm25Encoder
from rag.ingest._headings import Line, sections
from rag.ingest._ingestor import embedding_inputs
from rag.ingest._pdf import parse_pdf
from rag.settings import ParseLimits

PROSE = (
    "The company sells goods through stores and online channels, and reports the "
    "results of each region every quarter to its shareholders and the public. "
)


def sectioned_pdf() -> bytes:
    """Two pages: a bold title and a section heading on page 1, more of that section on
    page 2 (no heading there), then a table whose title is bold."""
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 72), "Northwind Annual Report", fontname="hebo", fontsize=18)
    page.insert_text((72, 110), "Liquidity and Capital Resources", fontname="hebo", fontsize=12)
    page.insert_textbox(pymupdf.Rect(72, 125, 540, 700), PROSE * 6, fontsize=10)
    page = doc.new_page()
    page.insert_textbox(pymupdf.Rect(72, 72, 540, 300), PROSE * 4, fontsize=10)
    page.insert_text((72, 340), "Segment Results", fontname="hebo", fontsize=12)
    page.insert_text((72, 360), "Region Net sales Operating income", fontname="hebo", fontsize=10)
    for i, (region, sales) in enumerate([("Americas", "1,234.5"), ("Europe", "$104.2")]):
        page.insert_text((72, 380 + 16 * i), f"{region} {sales} (12)", fontsize=10)
    data: bytes = doc.tobytes()
    doc.close()
    return data


def test_a_heading_path_reaches_a_passage_on_a_later_page_without_the_heading() -> None:
    parsed = parse_pdf(sectioned_pdf(), "northwind.pdf", ParseLimits())
    texts, _ = embedding_inputs("northwind.pdf", parsed)

    later = next(t for t in texts if t.endswith(PROSE.strip()) and "Northwind Annual" in t)
    assert "Northwind Annual Report › Liquidity and Capital Resources" in later
    assert parsed.pages[1].blocks[0].section == (
        "Northwind Annual Report",
        "Liquidity and Capital Resources",
    )


def test_a_table_cell_number_is_found_by_bm25_with_the_table_title_in_context() -> None:
    parsed = parse_pdf(sectioned_pdf(), "northwind.pdf", ParseLimits())
    texts, _ = embedding_inputs("northwind.pdf", parsed)
    bm25 = Bm25Encoder()
    query = bm25.encode_query("Segment results: net sales of 1234.5 in the Americas?")

    matching = [t for t in texts if set(query.indices) <= set(bm25.encode_document(t).indices)]
    assert matching and all("Segment Results" in t and "1,234.5" in t for t in matching)
    assert {"104.2", "$104.2", "12"} <= set(terms(matching[0]))


def test_running_heads_and_sentences_name_no_section() -> None:
    running = [Line("Table of Contents", 10, True)]
    blocks = [
        running,
        [Line("Risk Factors", 14, False)],
        [Line("This sentence is bold but ends.", 10, True)],
        running,
        [Line("Market Risk", 10, True), Line("body text follows here", 10, False)],
        running,
        [Line("plain body text", 10, False)],
    ]
    assert sections(blocks, pages=3)[-1] == ("Risk Factors", "Market Risk")
    assert sections(blocks, pages=3)[2] == ("Risk Factors",)
