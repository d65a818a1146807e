"""Progress: what the asker of a question hears while folio works on it.

An adapter passes one to ``Questions.ask``: it hears each step (``describing your
picture``, ``searching 12 documents``, ``reading pages 3 and 7 of q3.pdf``) and, when
``streams`` is true and a model writes the answer, the answer's text as it arrives,
already checked (see ``rag.answer._streaming``). rag knows nothing of where it goes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from rag.types import PageHit, page_label, plural


class Progress(Protocol):
    """Hears the steps of one answer and, when ``streams``, its checked text."""

    @property
    def streams(self) -> bool:
        """True when the answer's text should arrive as the model writes it."""
        ...

    async def step(self, what: str) -> None:
        """folio is now doing ``what`` (a short lower-case phrase, no full stop)."""
        ...

    async def text(self, more: str) -> None:
        """More of the answer, checked: every citation in it points at a source."""
        ...


class Silent:
    """A Progress that hears nothing (the CLI, evaluation, tests)."""

    streams = False

    async def step(self, what: str) -> None:
        """Ignore the step."""

    async def text(self, more: str) -> None:
        """Ignore the text."""


SILENT = Silent()


def searching(documents: int | None) -> str:
    """``searching 12 documents``, or ``searching your documents`` when the count is unknown."""
    if documents is None:
        return "searching your documents"
    return f"searching {plural(documents, 'document')}"


def reading(sources: Sequence[PageHit]) -> str:
    """``reading pages 3 and 7 of q3.pdf``, or ``reading 5 pages in 3 documents``."""
    files = list(dict.fromkeys(hit.file_name for hit in sources))
    if len(files) != 1:
        return f"reading {plural(len(sources), 'page')} in {plural(len(files), 'document')}"
    numbers = [str(n) for n in sorted({hit.page_number for hit in sources})]
    word = page_label(files[0], 0).removesuffix(" 0")  # "page", "slide", "sheet page"
    if len(numbers) == 1:
        return f"reading {word} {numbers[0]} of {files[0]}"
    listed = ", ".join(numbers[:-1]) + " and " + numbers[-1]
    return f"reading {word}s {listed} of {files[0]}"
