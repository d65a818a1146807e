"""Citation checks and the extractive quoting used without a model."""

from __future__ import annotations

import pytest

from rag.answer._citations import (
    best_excerpt,
    check_citations,
    extractive,
    key_terms,
    quoted_boxes,
)
from rag.types import BBox, Hit, PageHit


def page(number: int, text: str) -> PageHit:
    box = BBox(10, 10 * number, 200, 10 * number + 8)
    hit = Hit(f"h{number}", "d1", "annual.pdf", number, "chunk", 0.1, text, (box,))
    return PageHit("d1", "annual.pdf", number, 0.1, (hit,))


SOURCES = [page(n, f"text of page {n}") for n in range(1, 6)]


@pytest.mark.parametrize(
    ("raw", "text", "numbers"),
    [
        ("A [2]. B [9].", "A [2]. B.", [2]),
        ("A [1, 3] and [1;6].", "A [1][3] and [1].", [1, 3]),
        ("A [2][5][2].", "A [2][5][2].", [2, 5]),
        ("[0] Revenue grew in [2023] [4].", "Revenue grew in [2023] [4].", [4]),
        ("Nothing cited [6, 7].", "Nothing cited.", []),
    ],
)
def test_only_citations_of_retrieved_sources_survive(
    raw: str, text: str, numbers: list[int]
) -> None:
    checked = check_citations(raw, SOURCES)

    assert checked.text == text
    assert [c.number for c in checked.citations] == numbers
    assert [c.page_number for c in checked.citations] == numbers  # page n is source n here


def test_a_citation_carries_its_source_passage_and_boxes() -> None:
    [citation] = check_citations("X [3].", SOURCES).citations

    assert citation.passage == "text of page 3"
    assert citation.bboxes == SOURCES[2].bboxes
    assert (citation.document_id, citation.file_name) == ("d1", "annual.pdf")


def test_best_excerpt_quotes_the_sentence_that_matches_the_question() -> None:
    passage = (
        "Net sales grew 18% to $10.2 billion. "
        + "Stores opened in many states. " * 12
        + "Merchandise inventories increased because of 47 new stores. "
        + "Gross margin was 39.6%."
    )

    quote, overlap = best_excerpt(passage, key_terms("Why did merchandise inventories increase?"))

    assert "Merchandise inventories increased because of 47 new stores." in quote
    assert overlap == 3
    assert len(quote) <= 420
    assert quote.startswith("…")


def test_best_excerpt_cuts_one_very_long_sentence_around_the_first_term() -> None:
    words = ["filler"] * 200 + ["inventories", "rose"] + ["tail"] * 200

    quote, _ = best_excerpt(" ".join(words), ["inventories"])

    assert "inventories rose" in quote
    assert quote.startswith("…") and quote.endswith("…")
    assert len(quote) <= 302


def test_an_extractive_quote_highlights_only_the_blocks_it_quotes() -> None:
    boxes = (BBox(0, 0, 100, 10), BBox(0, 20, 100, 30), BBox(0, 40, 100, 50))
    hit = Hit(
        point_id="p",
        document_id="d",
        file_name="q3.pdf",
        page_number=3,
        kind="chunk",
        score=1.0,
        text="Diluted earnings per share increased 33.5% to $24.01 including a benefit from "
        "stock-based compensation accounting, compared with $17.98 in the prior fiscal year, "
        "while the board approved a new repurchase authorisation and management reiterated "
        "its long-term targets for operating margin, store growth, loyalty membership and "
        "digital sales penetration across every region."
        "\nCash was $737.9 million at the end of the year, up from last year.\n"
        "Merchandise inventories rose by $104.2 million due to 47 new stores.",
        bboxes=boxes,
    )
    page = PageHit("d", "q3.pdf", 3, 1.0, (hit,))
    checked = extractive("What drove the increase in merchandise inventories?", [page])
    [cited] = checked.citations
    assert "Merchandise inventories rose" in checked.text
    assert boxes[0] not in cited.bboxes and boxes[2] in cited.bboxes


def test_blocks_that_do_not_line_up_with_boxes_keep_every_box() -> None:
    boxes = (BBox(0, 0, 100, 10),)
    hit = Hit("p", "d", "q3.pdf", 1, "chunk", 1.0, "one\ntwo", boxes)
    assert quoted_boxes(hit, "one") == boxes
