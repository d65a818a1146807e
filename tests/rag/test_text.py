"""rag._text: the one reading of words and numbers that BM25 and quotes share."""

from __future__ import annotations

import pytest

from rag._text import fold, terms
from rag.answer._citations import key_terms


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,234.5", ["1234.5"]),
        ("$104.2", ["$104.2", "104.2"]),
        ("$ 104.2", ["104.2"]),
        ("(12)", ["12"]),
        ("(1,234)", ["1234"]),
        ("2023", ["2023"]),
        ("FY2023", ["fy2023", "fy", "2023"]),
        ("2023Q4", ["2023q4", "2023"]),
        ("12.5%", ["12.5"]),
        ("\u22121,200", ["1200"]),
    ],
)
def test_numbers_read_as_filings_print_them(text: str, expected: list[str]) -> None:
    assert list(terms(text)) == expected


def test_a_question_without_thousands_separators_meets_the_table_that_has_them() -> None:
    cell = "Total current liabilities $ 5,466,312 $ 3,325,607"
    assert {"5466312", "3325607"} <= set(terms(cell))
    assert set(terms("Were they 5466312?")) & set(terms(cell)) == {"5466312"}


def test_quotes_and_bm25_read_words_alike() -> None:
    question = "What drove Ulta Beauty's merchandise inventories in FY2023?"
    assert key_terms(question) == list(dict.fromkeys(terms(question)))
    assert "inventory" in key_terms(question) and "the" not in key_terms("the")


def test_fold_normalises_ligatures_hyphens_and_apostrophes() -> None:
    assert (
        fold("The Company\u2019s \ufb01nancial non\u2011GAAP") == "the company financial non-gaap"
    )


def test_a_markdown_table_row_reads_as_its_cells() -> None:
    row = "| Receivables, net | $104.2 | (12) | 1,234.5 |\n| --- | --- | --- | --- |"
    assert list(terms(row)) == ["receivable", "net", "$104.2", "104.2", "12", "1234.5"]
