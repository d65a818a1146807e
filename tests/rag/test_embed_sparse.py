"""Bm25Encoder: tokenizer cases, stable term ids, BM25 weights, and retrieval in real Qdrant."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from qdrant_client import QdrantClient, models

from rag.embed import Bm25Encoder
from rag.embed.sparse import term_id
from rag.types import SparseVector

REVENUE_ID = 1667234838  # blake2b("revenue", 8 bytes) mod 2**31; changing it means re-indexing


@pytest.fixture
def bm25() -> Bm25Encoder:
    return Bm25Encoder()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Revenues of the COMPANIES", ["revenue", "company"]),
        ("Our 10-K and 10-Q filings", ["10-k", "10-q", "filing"]),
        ("Q3 and FY2022 results", ["q3", "fy2022", "fy", "2022", "result"]),
        ("sales of $1.2 billion", ["sale", "$1.2", "1.2", "billion"]),
        ("$1,234,567.89 in cash", ["$1234567.89", "1234567.89", "cash"]),
        ("margin of 3.5% in 2022.", ["margin", "3.5", "2022"]),
        ("$5 per share", ["$5", "5", "per", "share"]),
        ("the company's U.S. operations", ["company", "us", "operation"]),
        ("COVID\u201019 and e-commerce", ["covid-19", "e-commerce"]),
        ("year-over-year growth for 2021-2022", ["year", "year", "growth", "2021", "2022"]),
        ("\ufb01nancial statements", ["financial", "statement"]),
        ("it is what it was", []),
        ("Umsatzerlöse 東京 2024", ["umsatzerlöse", "東京", "2024"]),
        ("losses, taxes and businesses", ["loss", "tax", "business"]),
    ],
)
def test_tokenizer_lowercases_stems_keeps_numbers_and_drops_stopwords(
    bm25: Bm25Encoder, text: str, expected: list[str]
) -> None:
    assert bm25.tokenize(text) == expected


def test_term_ids_are_a_fixed_hash_not_pythons_hash() -> None:
    assert term_id("revenue") == REVENUE_ID
    assert Bm25Encoder().encode_query("Revenue").indices == (REVENUE_ID,)


def test_term_ids_are_the_same_in_another_process() -> None:
    code = (
        "import json; from rag.embed.sparse import term_id; "
        "print(json.dumps([term_id(t) for t in ['revenue', '10-k', '$1.2', '東京']]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    expected = [term_id(t) for t in ["revenue", "10-k", "$1.2", "東京"]]
    assert json.loads(result.stdout) == expected
    assert expected[0] == REVENUE_ID


def _weights(vector: SparseVector) -> dict[int, float]:
    return dict(zip(vector.indices, vector.values, strict=True))


def test_document_weight_grows_with_tf_but_saturates(bm25: Bm25Encoder) -> None:
    filler = " ".join(f"filler{i}" for i in range(20))

    def weight(tf: int) -> float:
        return _weights(bm25.encode_document(("revenue " * tf) + filler))[REVENUE_ID]

    w1, w2, w10, w100 = weight(1), weight(2), weight(10), weight(100)
    assert w1 < w2 < w10 < w100 < bm25.k1 + 1
    assert (w2 - w1) > (w10 - w2) / 8 > (w100 - w10) / 90


def test_document_weight_shrinks_as_the_document_grows(bm25: Bm25Encoder) -> None:
    short = bm25.encode_document("revenue grew")
    long = bm25.encode_document("revenue grew " + " ".join(f"word{i}" for i in range(300)))
    assert _weights(long)[REVENUE_ID] < _weights(short)[REVENUE_ID]


def test_document_weight_follows_the_bm25_formula() -> None:
    encoder = Bm25Encoder(k1=1.5, b=0.5, avg_doc_len=4.0)
    vector = encoder.encode_document("revenue revenue growth")
    expected = 2 * 2.5 / (2 + 1.5 * (1 - 0.5 + 0.5 * 3 / 4.0))
    assert _weights(vector)[REVENUE_ID] == pytest.approx(expected)


def test_query_weights_are_one_per_distinct_term(bm25: Bm25Encoder) -> None:
    vector = bm25.encode_query("revenue growth revenue in Q3")
    assert vector.values == (1.0, 1.0, 1.0)
    assert list(vector.indices) == sorted({term_id("revenue"), term_id("growth"), term_id("q3")})


def test_indices_are_sorted_and_unique(bm25: Bm25Encoder) -> None:
    vector = bm25.encode_document("zeta alpha beta gamma delta epsilon alpha 2022 10-k")
    assert list(vector.indices) == sorted(set(vector.indices))
    assert len(vector.indices) == len(vector.values) == 8


def test_empty_text_gives_an_empty_vector(bm25: Bm25Encoder) -> None:
    assert bm25.encode_document("") == SparseVector(indices=(), values=())
    assert bm25.encode_query("the of and") == SparseVector(indices=(), values=())


def test_bad_parameters_are_rejected() -> None:
    with pytest.raises(ValueError):
        Bm25Encoder(b=1.5)
    with pytest.raises(ValueError):
        Bm25Encoder(avg_doc_len=0)


PASSAGES = [
    "Total net revenue for fiscal 2022 was $1.2 billion, up from $1.0 billion in 2021.",
    "The company repurchased shares of common stock under its buyback program.",
    "Operating cash flow decreased because of higher inventory levels.",
    "Our 10-K describes risk factors including competition and regulation.",
    "Capital expenditures in Q3 were mainly for new warehouses and stores.",
    "The revenue recognition policy follows ASC 606 for all contracts.",
]


@pytest.fixture
def qdrant() -> Iterator[QdrantClient]:
    client = QdrantClient(":memory:")
    bm25 = models.SparseVectorParams(modifier=models.Modifier.IDF)
    client.create_collection("passages", vectors_config={}, sparse_vectors_config={"bm25": bm25})
    encoder = Bm25Encoder(avg_doc_len=12.0)
    points = []
    for number, passage in enumerate(PASSAGES):
        vector = encoder.encode_document(passage)
        sparse = models.SparseVector(indices=list(vector.indices), values=list(vector.values))
        points.append(models.PointStruct(id=number, vector={"bm25": sparse}))
    client.upsert("passages", points)
    yield client
    client.close()


@pytest.mark.parametrize(
    ("question", "passage"),
    [
        ("What were capital expenditures in Q3?", 4),
        ("How much revenue in fiscal 2022?", 0),
        ("share repurchases", 1),
        ("risk factors in the 10-K", 3),
        ("was it $1.2 billion", 0),
    ],
)
def test_bm25_vectors_retrieve_the_right_passage_in_qdrant_with_idf(
    qdrant: QdrantClient, question: str, passage: int
) -> None:
    vector = Bm25Encoder().encode_query(question)
    query = models.SparseVector(indices=list(vector.indices), values=list(vector.values))
    hits = qdrant.query_points("passages", query=query, using="bm25", limit=3).points
    assert hits[0].id == passage
