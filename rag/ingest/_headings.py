"""Headings from fonts: which section each text block of a document sits in.

A heading is a short line at the start of a block, set bold or larger than the
document's body text (the size most characters use), that is not a sentence and not a
row of numbers. Larger type ranks higher; at one size, bold ranks above regular.
Consecutive heading lines of one rank are one heading ("AMAZON.COM, INC." over
"CONSOLIDATED STATEMENTS OF OPERATIONS"). Lines repeated on many pages (running
heads, column heads) are skipped. A block's section is the path of headings in
force where it starts, across pages, at most ``DEPTH`` deep: what a reader of the
page knows and the page itself may not repeat.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

DEPTH = 3
_MAX_WORDS = 12
_MAX_JOINED_WORDS = 16
_LARGER = 1.15
_LETTERS = re.compile(r"[^\W\d_]{2,}")


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a text block: its text, its main font size, and whether it is bold."""

    text: str
    size: float
    bold: bool


def body_size(blocks: Sequence[Sequence[Line]]) -> float:
    """The font size most characters of the document use."""
    sizes: Counter[float] = Counter()
    for lines in blocks:
        for line in lines:
            sizes[round(line.size, 1)] += len(line.text)
    return sizes.most_common(1)[0][0] if sizes else 0.0


def sections(blocks: Sequence[Sequence[Line]], *, pages: int) -> list[tuple[str, ...]]:
    """The heading path in force at each block, blocks in document order."""
    body = body_size(blocks)
    running = _running(blocks, body, pages)
    stack: list[tuple[tuple[int, bool], str]] = []
    paths = []
    for lines in blocks:
        joining = False
        for line in lines:
            if line.text in running:
                continue
            if not is_heading(line, body):
                break  # only a block's leading lines can be headings
            rank = (-round(line.size), not line.bold)
            if joining and stack[-1][0] == rank and _joinable(stack[-1][1], line.text):
                stack[-1] = (rank, f"{stack[-1][1]} {line.text}")
            else:
                while stack and stack[-1][0] >= rank:
                    stack.pop()
                stack.append((rank, line.text))
            joining = True
        paths.append(tuple(text for _, text in stack[-DEPTH:]))
    return paths


def is_heading(line: Line, body: float) -> bool:
    """Short, worded, not a sentence, at most one number, and bold or larger than body."""
    words = line.text.split()
    if not 1 <= len(words) <= _MAX_WORDS or line.text.startswith("(") or line.text.endswith("."):
        return False
    if not _LETTERS.search(line.text):
        return False
    if sum(any(char.isdigit() for char in word) for word in words) > 1:
        return False
    return line.bold or line.size >= body * _LARGER


def _running(blocks: Sequence[Sequence[Line]], body: float, pages: int) -> set[str]:
    """Heading-like lines repeated on many pages: running heads ("Table of Contents",
    "FORM 10-K") and column heads ("Year Ended December 31,"), which name no section."""
    seen = Counter(line.text for lines in blocks for line in lines if is_heading(line, body))
    often = max(3, pages // 5)
    return {text for text, count in seen.items() if count >= often}


def _joinable(heading: str, more: str) -> bool:
    return len(heading.split()) + len(more.split()) <= _MAX_JOINED_WORDS
