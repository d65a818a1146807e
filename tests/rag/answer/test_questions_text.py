"""looks_like_question: which help-channel messages folio answers without a mention."""

from __future__ import annotations

import pytest

from rag import looks_like_question


@pytest.mark.parametrize(
    "text",
    [
        "what is the payload size",
        "How do I file expenses?",
        "Is the Q3 deck final",
        "the deck is where?",
        "anyone know the revenue growth",
        "Does it say (in the deck)?)",
        "¿Dónde está?",
    ],
)
def test_questions_are_recognised(text: str) -> None:
    assert looks_like_question(text)


@pytest.mark.parametrize(
    "text", ["", "   ", "The payload is large.", "thanks!", "lunch at 12", "whatever works"]
)
def test_statements_are_not_questions(text: str) -> None:
    assert not looks_like_question(text)
