"""BM25 sparse vectors: our tokenizer, stable hashed term ids, term-frequency weights.

The vectors go into a Qdrant sparse vector with ``modifier=IDF``: Qdrant supplies the
inverse document frequency from the collection, we supply the saturated term frequency.
Term ids are a stable hash of the term, so ids never change between processes or
releases; changing the tokenizer or the hash means re-indexing.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator

from rag.types import SparseVector

_ID_SPACE = 2**31

# Order matters: the first alternative that matches at a position wins.
_TOKEN = re.compile(
    r"""
      (?P<grouped>\$?\d{1,3}(?:,\d{3})+(?:\.\d+)?)   # 1,234,567.89
    | (?P<decimal>\$?\d+(?:\.\d+)+)                  # 1.2  $3.50  1.2.3
    | (?P<acronym>(?:[^\W\d_]\.){2,})                # u.s.  e.g.
    | (?P<word>\$?[^\W_]+(?:-[^\W_]+)*)              # revenue  q3  10-k  year-over-year
    """,
    re.VERBOSE,
)
_APOSTROPHE_S = re.compile(r"['\u2019]s\b")
_APOSTROPHE = re.compile(r"['\u2019]")
# Hyphen look-alikes PDFs use (NFKC keeps them); U+2012..U+2015 are dashes between words.
_HYPHENS = str.maketrans({"\u2010": "-", "\u2011": "-", "\u2212": "-"})

# Lucene's English list plus common function words; numbers are never stopwords.
STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing dont down during
    each few for from further had has have having he her here hers herself him himself
    his how i if in into is it its itself just me more most my myself no nor not of off
    on once only or other our ours ourselves out over own same she should so some such
    than that the their theirs them themselves then there these they this those through
    to too under until up very was we were what when where which while who whom why will
    with would you your yours yourself yourselves
    """.split()
)


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
        return list(_terms(text))

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


def _terms(text: str) -> Iterator[str]:
    text = unicodedata.normalize("NFKC", text).translate(_HYPHENS).lower()
    text = _APOSTROPHE.sub("", _APOSTROPHE_S.sub("", text))
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        token = match.group()
        if kind in ("grouped", "decimal"):
            yield from _number(token.replace(",", ""))
        elif kind == "acronym":
            yield token.replace(".", "")
        else:
            yield from _word(token)


def _number(token: str) -> Iterator[str]:
    # "$1.2" also yields "1.2": tables often put the currency sign in its own cell.
    yield token
    if token.startswith("$"):
        yield token[1:]


def _word(token: str) -> Iterator[str]:
    if token.startswith("$"):
        token = token[1:]
        if token.isdigit():
            yield "$" + token
    parts = token.split("-")
    if len(parts) > 1 and _keep_compound(parts):
        yield token
        return
    for part in parts:
        if any(char.isdigit() for char in part):
            yield part
        elif len(part) > 1 and part not in STOPWORDS:
            yield _stem(part)


def _keep_compound(parts: list[str]) -> bool:
    """ "10-k", "covid-19", "e-commerce" stay whole; "2021-2022", "year-over-year" split."""
    has_digits = [any(char.isdigit() for char in part) for part in parts]
    mixed = any(has_digits) and not all(has_digits)
    return mixed or any(len(part) == 1 for part in parts)


def _stem(word: str) -> str:
    """A light plural stemmer (after Harman's S-stemmer); enough for BM25 matching."""
    if len(word) <= 3:
        return word
    if word.endswith("ies") and not word.endswith(("aies", "eies")):
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes", "zzes")):
        return word[:-2]
    if word.endswith("es") and not word.endswith(("aes", "ees", "oes")):
        return word[:-1]
    if word.endswith("s") and not word.endswith(("us", "ss", "is")):
        return word[:-1]
    return word
