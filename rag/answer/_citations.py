"""Checking the answer model's ``[n]`` citations, and quoting passages without a model."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from rag._text import terms
from rag.types import BBox, Citation, Hit, PageHit

# A citation group: [2], [1, 3], [1;3]. At most three digits so "[2023]" stays prose.
_GROUP = re.compile(r"(\s*)\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

EXTRACTIVE_LABEL = "No answer model is configured, so here are the most relevant passages:"
QUOTE_CHARS = 300


@dataclass(frozen=True, slots=True)
class Checked:
    """An answer text whose every ``[n]`` points at ``sources[n - 1]``, and its citations."""

    text: str
    citations: tuple[Citation, ...]


def check_citations(text: str, sources: Sequence[PageHit]) -> Checked:
    """Drop citations outside ``1..len(sources)``; keep the valid ones as they are.

    ``[2] ... [9] ... [1, 5]`` with five sources becomes ``[2] ... [1][5]``; the
    citations are sources 1, 2 and 5 with those numbers, so text and citations agree
    and ``Citation.number`` indexes ``sources`` (1-based).
    """
    cited: set[int] = set()
    checked = rewrite_groups(text, len(sources), cited).strip()
    return Checked(checked, tuple(citation(n, sources[n - 1]) for n in sorted(cited)))


def rewrite_groups(text: str, sources: int, cited: set[int]) -> str:
    """``text`` with each group's numbers outside ``1..sources`` dropped (a group left empty
    goes with its leading whitespace); the numbers kept are added to ``cited``."""

    def rewrite(match: re.Match[str]) -> str:
        numbers = [int(n) for n in re.split(r"\s*[,;]\s*", match.group(2))]
        valid = list(dict.fromkeys(n for n in numbers if 1 <= n <= sources))
        cited.update(valid)
        return match.group(1) + "".join(f"[{n}]" for n in valid) if valid else ""

    return _GROUP.sub(rewrite, text)


def citation(number: int, hit: PageHit) -> Citation:
    """The citation ``[number]`` of a retrieved page."""
    return Citation(
        number=number,
        document_id=hit.document_id,
        file_name=hit.file_name,
        page_number=hit.page_number,
        passage=hit.passage,
        bboxes=hit.bboxes,
    )


def strip_citations(text: str) -> str:
    """The text with every ``[n]`` group removed (for sentences that cite nothing)."""
    return _GROUP.sub("", text).strip()


NO_TEXT_NOTE = "A page without text matches best; see its image."


def extractive(query: str, sources: Sequence[PageHit], *, limit: int = 3) -> Checked:
    """Without a model: the best passages quoted, each followed by its ``[n]``."""
    terms = key_terms(query)
    chosen: list[tuple[Citation, str | None]] = []
    for number, page in enumerate(sources, start=1):
        if len(chosen) == limit:
            break
        found = _best_on_page(page, terms)
        if found is None:
            if not chosen:  # the best match is a page without text (a scan, a picture)
                chosen.append((citation(number, page), None))
            continue
        hit, quote, overlap = found
        if chosen and overlap == 0:
            continue  # after the top page, only quote pages that share words with the query
        cited = citation(number, page)
        if hit.kind == "chunk":  # highlight the passage actually quoted
            cited = replace(cited, passage=hit.text, bboxes=quoted_boxes(hit, quote) or page.bboxes)
        chosen.append((cited, quote))
    lines = [EXTRACTIVE_LABEL]
    lines += [_quoted(quote, c.number) for c, quote in chosen]
    return Checked("\n\n".join(lines), tuple(c for c, _ in chosen))


def quoted_boxes(hit: Hit, quote: str) -> tuple[BBox, ...]:
    """The boxes of ``hit``'s blocks that the quote draws on (all of them when unsure).

    A chunk's text is its blocks joined by newlines, one box per block, so a block whose
    words mostly appear in the quote is one the reader should see highlighted.
    """
    blocks = hit.text.split("\n")
    if len(blocks) != len(hit.bboxes):
        return hit.bboxes
    quoted = set(" ".join(quote.strip("\u2026").split()).lower().split())
    picked = []
    for block, box in zip(blocks, hit.bboxes, strict=True):
        words = block.lower().split()
        if words and sum(w in quoted for w in words) >= 0.6 * len(words):
            picked.append(box)
    return tuple(picked) or hit.bboxes


def _quoted(quote: str | None, number: int) -> str:
    if quote is None:
        return f"{NO_TEXT_NOTE} [{number}]"
    return f"\u201c{quote}\u201d [{number}]"


def _best_on_page(page: PageHit, terms: Sequence[str]) -> tuple[Hit, str, int] | None:
    """The page's hit whose best excerpt shares most terms (chunks win ties)."""
    best: tuple[Hit, str, int] | None = None
    ordered = sorted(page.hits, key=lambda h: h.kind != "chunk")  # stable: keeps rank order
    for hit in ordered:
        if not hit.text.strip():
            continue
        quote, overlap = best_excerpt(hit.text, terms)
        if best is None or overlap > best[2]:
            best = (hit, quote, overlap)
    return best


def key_terms(text: str) -> list[str]:
    """The terms of ``text`` as BM25 reads them (rag._text), in order, without duplicates."""
    return list(dict.fromkeys(terms(text)))


def best_excerpt(passage: str, terms: Sequence[str], size: int = QUOTE_CHARS) -> tuple[str, int]:
    """About ``size`` characters around the sentence sharing most terms; and that overlap.

    Neighbouring sentences join while the quote is under ``size`` characters and stays
    under 1.4 times that, so a thought is not cut one sentence short.
    """
    flat = " ".join(passage.split())
    sentences = [s for s in _SENTENCE_END.split(flat) if s]
    if not sentences:
        return "", 0
    stems = {_stem(t) for t in terms}
    scores = [len(stems & {_stem(w) for w in key_terms(s)}) for s in sentences]
    best = max(range(len(sentences)), key=lambda i: scores[i])
    if len(sentences[best]) > size:
        return _window(sentences[best], stems, size), scores[best]
    lo = hi = best
    length = len(sentences[best])
    most = size * 7 // 5
    while True:  # grow right first (the sentence after usually finishes the thought)
        if length >= size:
            break
        if hi + 1 < len(sentences) and length + len(sentences[hi + 1]) + 1 <= most:
            hi += 1
            length += len(sentences[hi]) + 1
        elif lo > 0 and length + len(sentences[lo - 1]) + 1 <= most:
            lo -= 1
            length += len(sentences[lo]) + 1
        else:
            break
    quote = " ".join(sentences[lo : hi + 1])
    return ("…" if lo > 0 else "") + quote + ("…" if hi < len(sentences) - 1 else ""), scores[best]


def _window(sentence: str, stems: set[str], size: int) -> str:
    """``size`` characters of a long sentence, starting a little before its first term."""
    words = sentence.split(" ")
    first = next((i for i, w in enumerate(words) if stems & {_stem(t) for t in terms(w)}), 0)
    start = max(first - 3, 0)
    picked: list[str] = []
    for word in words[start:]:
        if sum(len(w) + 1 for w in picked) + len(word) > size:
            break
        picked.append(word)
    more = start + len(picked) < len(words)
    return ("…" if start > 0 else "") + " ".join(picked) + ("…" if more else "")


def _stem(word: str) -> str:
    # Crude but language-agnostic: "inventories" and "inventory" share "invent".
    return word[:6]
