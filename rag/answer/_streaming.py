"""AnswerStream: the model's answer checked as it arrives, so it can be shown as it is written.

The model's text comes in arbitrary pieces; a citation ``[1, 9]`` or the ``NOT_FOUND``
marker may be split across two of them. AnswerStream holds back what is not yet decided
(the start, until it cannot be the NOT_FOUND marker; trailing whitespace; an open ``[`` that
may still become a citation group) and releases the rest through the same rewrite as
``check_citations``. Cut points never fall inside a citation group or the whitespace before
it, so everything released, joined, equals ``check_citations(whole text).text``.
"""

from __future__ import annotations

import re

from rag.answer._citations import rewrite_groups
from rag.answer._prompts import NOT_FOUND

# A "[" whose tail could still grow into a citation group such as "[1, 3]".
_OPEN_GROUP = re.compile(r"\s*\[[\d\s,;]*$")
_LEADING = re.compile(r"^[\W_]*", re.UNICODE)


class AnswerStream:
    """Feeds on the model's raw pieces; returns the checked text that is safe to show now."""

    def __init__(self, sources: int) -> None:
        self._sources = sources
        self._raw = ""  # everything received, for the final check
        self._pending = ""  # received but not yet released
        self._released = False  # some non-blank text went out
        self._decided: bool | None = None  # None: the start may still be NOT_FOUND
        self.cited: set[int] = set()

    @property
    def raw(self) -> str:
        """Everything the model wrote so far."""
        return self._raw

    @property
    def not_found(self) -> bool:
        """True once the answer is known to start with the NOT_FOUND marker."""
        return self._decided is False

    def feed(self, piece: str) -> str:
        """Take the next raw piece; the checked text that may be shown now (maybe empty)."""
        self._raw += piece
        self._pending += piece
        if self._decided is None:
            self._decided = _decide(self._raw)
        if not self._decided:
            return ""
        cut = _cut(self._pending)
        return self._release(cut)

    def finish(self) -> str:
        """The rest, once the model is done (trailing whitespace dropped, as strip() would)."""
        if self._decided is None:
            self._decided = _decide(self._raw, final=True)
        if not self._decided:
            return ""
        return self._release(len(self._pending.rstrip()))

    def _release(self, cut: int) -> str:
        segment, self._pending = self._pending[:cut], self._pending[cut:]
        text = rewrite_groups(segment, self._sources, self.cited)
        if not self._released:
            text = text.lstrip()
            self._released = bool(text)
        return text


def _decide(raw: str, *, final: bool = False) -> bool | None:
    """True: not the NOT_FOUND marker; False: it is; None: too early to tell."""
    rest = raw[_LEADING.match(raw).end() :]  # type: ignore[union-attr]
    if rest.startswith(NOT_FOUND):
        return False
    if NOT_FOUND.startswith(rest) and not final:
        return None
    return bool(rest) or not final


def _cut(pending: str) -> int:
    """How much of ``pending`` can be released: not its trailing whitespace, and not an
    open ``[`` (with the whitespace before it) that may still become a citation."""
    cut = len(pending.rstrip())
    if (group := _OPEN_GROUP.search(pending, 0, cut)) is not None:
        cut = group.start()
    return cut
