"""`folio feedback export`: the answers people voted on, as a QA set in `folio eval`'s format.

Each voted answer that cited pages becomes one JSON Lines row: ``id``, ``question``,
``answer``, ``doc`` (the document it cited most) and ``pages`` (the pages of it that it
cited), ``evidence`` (empty: a person fills it when they curate the row), and the votes
(``vote`` is ``up``, ``down`` or ``mixed``; ``up``, ``down``, ``reasons``) so a team can keep
the 👍 rows as ground truth and read the 👎 ones to fix them. Answers that cited nothing
(nothing found) have no pages to score, so they are counted, not written.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TextIO

from rag.types import AnswerFeedback


@dataclass(frozen=True, slots=True)
class Exported:
    """How many rows were written, and how many voted answers cited nothing."""

    written: int
    uncited: int


def eval_row(feedback: AnswerFeedback) -> dict[str, Any] | None:
    """One QA row for ``folio eval``; None when the answer cited no page."""
    if not feedback.pages:
        return None
    doc = Counter(name for name, _ in feedback.pages).most_common(1)[0][0]
    net = feedback.up - feedback.down
    return {
        "id": feedback.id,
        "question": feedback.question,
        "answer": feedback.answer,
        "doc": doc,
        "pages": sorted({page for name, page in feedback.pages if name == doc}),
        "evidence": [],
        "vote": "up" if net > 0 else "down" if net < 0 else "mixed",
        "up": feedback.up,
        "down": feedback.down,
        "reasons": list(feedback.reasons),
        "created_at": feedback.created_at.isoformat(),
    }


def write_eval_set(voted: Iterable[AnswerFeedback], out: TextIO) -> Exported:
    """Write the rows as JSON Lines, oldest first."""
    written = uncited = 0
    for feedback in sorted(voted, key=lambda f: f.created_at):
        row = eval_row(feedback)
        if row is None:
            uncited += 1
            continue
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        written += 1
    return Exported(written, uncited)
