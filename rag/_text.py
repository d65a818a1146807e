"""Words as folio reads them: one normalisation and one tokenizer for BM25 and for quotes.

``terms`` turns text into lowercased, lightly stemmed terms without stopwords, reading
numbers the way filings print them: "1,234.5" is the term "1234.5" (so a question
that writes "1234.5" finds it), "$104.2" is "$104.2" and "104.2" (tables often put
the currency sign in a cell of its own), "(12)" (a negative amount) is "12", "2023"
stays "2023", and "FY2023" also yields its parts ("fy", "2023").
Changing what ``terms`` yields changes BM25's term ids: the index must be rebuilt.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator

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
# Where letters meet digits inside a word: "fy2023" -> "fy", "2023".
_LETTERS_DIGITS = re.compile(r"\d+|[^\W\d_]+")

# Lucene's English list, common function words, and the commonest function words of
# French, Spanish and German; numbers are never stopwords.
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
    de la le les des du un une et en est el los las y que der die das und ist
    """.split()
)


def fold(text: str) -> str:
    """NFKC, one kind of hyphen, lower case, no apostrophes ("company's" -> "company")."""
    text = unicodedata.normalize("NFKC", text).translate(_HYPHENS).lower()
    return _APOSTROPHE.sub("", _APOSTROPHE_S.sub("", text))


def terms(text: str) -> Iterator[str]:
    """Lowercased, stemmed terms without stopwords; numbers, "10-k", "$1.2", "q3" kept."""
    for match in _TOKEN.finditer(fold(text)):
        yield from _token_terms(match.lastgroup, match.group())


@functools.lru_cache(maxsize=1 << 16)
def _token_terms(kind: str | None, token: str) -> tuple[str, ...]:
    # Cached: a filing repeats its words, and ingest reads every passage (~3x faster).
    if kind in ("grouped", "decimal"):
        return tuple(_number(token.replace(",", "")))
    if kind == "acronym":
        return (token.replace(".", ""),)
    return tuple(_word(token))


def stem(word: str) -> str:
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


def _number(token: str) -> Iterator[str]:
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
            yield from _mixed(part)
        elif len(part) > 1 and part not in STOPWORDS:
            yield stem(part)


def _mixed(part: str) -> Iterator[str]:
    """A word with digits whole, then its letter and digit runs ("fy2023": "fy", "2023")."""
    yield part
    runs = _LETTERS_DIGITS.findall(part)
    if len(runs) > 1:
        # Single characters ("q" of "q3", "4" of "q4") would match nearly any page.
        yield from (run for run in runs if len(run) > 1 and run not in STOPWORDS)


def _keep_compound(parts: list[str]) -> bool:
    """ "10-k", "covid-19", "e-commerce" stay whole; "2021-2022", "year-over-year" split."""
    has_digits = [any(char.isdigit() for char in part) for part in parts]
    mixed = any(has_digits) and not all(has_digits)
    return mixed or any(len(part) == 1 for part in parts)
