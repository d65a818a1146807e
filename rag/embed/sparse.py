"""BM25 sparse vectors: rag._text's terms, stable hashed term ids, term-frequency weights.

The vectors go into a Qdrant sparse vector with ``modifier=IDF``: Qdrant supplies the
inverse document frequency from the collection, we supply the saturated term frequency.
Term ids are a stable hash of the term, so ids never change between processes or
releases; changing the tokenizer or the hash means re-indexing.
"""

from __future__ import annotations

import functools
import hashlib
from collections import Counter
from collections.abc import Iterable

from rag._text import terms
from rag.types import SparseVector

_ID_SPACE = 2**31


class Bm25Encoder:
    """Turns documents and queries into BM25 sparse vectors for an IDF-modified index."""

    def __init__(self, *, k1: float = 1.2, b: float = 0.75, avg_doc_len: float = 120.0) -> None:
        if k1 < 0 or not 0 <= b <= 1 or avg_doc_len <= 0:
            raise ValueError("BM25 needs k1 >= 0, 0 <= b <= 1 and avg_doc_len > 0")
        self.k1 = k1
        self.b = b
        self.avg_doc_len = avg_doc_len

    def tokenize(self, text: str) -> list[str]:
        """Lowercased, stemmed terms without stopwords; numbers, "10-k", "$1.2", "q3" kept."""
        return list(terms(text))

    def encode_document(self, text: str) -> SparseVector:
        """BM25 term-frequency weights, saturating with tf and shrinking with length."""
        terms = self.tokenize(text)
        length_norm = self.k1 * (1 - self.b + self.b * len(terms) / self.avg_doc_len)
        weights = {
            term: tf * (self.k1 + 1) / (tf + length_norm) for term, tf in Counter(terms).items()
        }
        return _vector(weights.items())

    def encode_query(self, text: str) -> SparseVector:
        """Each distinct query term weighs 1.0; the index's IDF does the rest."""
        return _vector((term, 1.0) for term in dict.fromkeys(self.tokenize(text)))


@functools.lru_cache(maxsize=1 << 16)
def term_id(term: str) -> int:
    """The stable id of a term: blake2b, 8 bytes, big-endian, modulo 2**31."""
    digest = hashlib.blake2b(term.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % _ID_SPACE


def _vector(weights: Iterable[tuple[str, float]]) -> SparseVector:
    """Hash terms to ids, summing weights of colliding terms, indices ascending."""
    by_id: dict[int, float] = {}
    for term, weight in weights:
        index = term_id(term)
        by_id[index] = by_id.get(index, 0.0) + weight
    indices = sorted(by_id)
    return SparseVector(indices=tuple(indices), values=tuple(by_id[i] for i in indices))
