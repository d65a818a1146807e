"""Domain values that say something themselves: the line an indexed file reports."""

from __future__ import annotations

from datetime import UTC, datetime

from rag import Document, IngestResult, Scope


def indexed(name: str, pages: int, figures: int, *, created: bool = True) -> str:
    document = Document(
        id="d1",
        scope=Scope("T1", "C1"),
        file_name=name,
        content_hash="abc",
        kind="pdf",
        page_count=pages,
        figure_count=figures,
        created_at=datetime(2024, 5, 1, tzinfo=UTC),
    )
    return IngestResult(document, created).summary


def test_the_indexed_line_reads_naturally():
    assert indexed("q3.pdf", 42, 7) == "Indexed q3.pdf: 42 pages, 7 figures"
    assert indexed("photo.png", 1, 1) == "Indexed photo.png: 1 page, 1 figure"


def test_a_file_indexed_before_says_so_and_a_long_name_is_shortened():
    assert indexed("q3.pdf", 2, 0, created=False) == (
        "Indexed q3.pdf: 2 pages, 0 figures (already indexed here)"
    )
    line = indexed("x" * 300 + ".pdf", 1, 0)
    assert len(line) < 200 and "…" in line
