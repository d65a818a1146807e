"""AnswerStream: the answer released piece by piece equals the answer checked whole."""

from __future__ import annotations

import openai
import pytest

from rag.answer._citations import check_citations
from rag.answer._streaming import AnswerStream
from rag.errors import ModelError
from rag.types import Hit, PageHit
from tests.fakes.openai_server import FakeOpenAI, Scripted
from tests.rag.answer.test_answer import AUDIENCE, INVENTORIES, ULTA, answerer, ulta_pages

__all__ = ["ulta_pages"]  # the fixture, shared with test_answer

SOURCES = [
    PageHit(
        document_id="d1",
        file_name="q3.pdf",
        page_number=n,
        score=1.0,
        hits=(Hit(f"h{n}", "d1", "q3.pdf", n, "chunk", 1.0, "text"),),
    )
    for n in (1, 2, 3)
]

ANSWERS = [
    "Revenue grew 11% [1]. Costs fell [9]. Both [2, 7] matter [1;3].",
    "  [9] Leading bad marker, then [2]\n\n- a list [4]\n- item [3]  \n",
    "In [2023] prices rose [1][2] and [12] [1 ,  5] fell.",
    "NOT_FOUND The documents do not say.",
    "NOT_FOUNDATION is not the marker [1].",
    "Unclosed [1 bracket and [ spaced ] text [3",
    "",
]


def _split_everywhere(text: str) -> list[list[str]]:
    """Every way to cut ``text`` in two, and in one-character pieces."""
    ways = [[text[:i], text[i:]] for i in range(len(text) + 1)]
    return [*ways, list(text)]


@pytest.mark.parametrize("answer", ANSWERS)
def test_released_pieces_join_to_the_checked_answer_however_the_text_is_cut(answer: str):
    expected = check_citations(answer, SOURCES).text
    for pieces in _split_everywhere(answer):
        stream = AnswerStream(len(SOURCES))
        released = [stream.feed(piece) for piece in pieces] + [stream.finish()]
        if stream.not_found:
            assert "".join(released) == ""
            assert not answer or answer.startswith("NOT_FOUND")
        else:
            assert "".join(released) == expected, pieces
            assert stream.raw == answer


def test_a_marker_outside_the_sources_never_leaves_even_split_in_two():
    stream = AnswerStream(len(SOURCES))
    released = [stream.feed(p) for p in ("The answer is 42 [", "9]", " and [1", "2] ok [", "2].")]
    released.append(stream.finish())
    assert not any("9" in piece or "12" in piece for piece in released)
    assert "".join(released) == "The answer is 42 and ok [2]."
    assert stream.cited == {2}


def test_the_not_found_marker_is_held_until_it_is_certain():
    stream = AnswerStream(len(SOURCES))
    assert stream.feed("NOT_") == ""
    assert stream.feed("FOU") == ""
    assert stream.feed("ND nothing here") == ""
    assert stream.not_found


class Heard:
    """A streaming Progress that records what it hears."""

    streams = True

    def __init__(self) -> None:
        self.steps: list[str] = []
        self.texts: list[str] = []

    async def step(self, what: str) -> None:
        self.steps.append(what)

    async def text(self, more: str) -> None:
        self.texts.append(more)


async def test_a_streamed_answer_is_heard_in_pieces_and_equals_the_checked_answer(
    fake_openai: FakeOpenAI, openai_client: openai.AsyncOpenAI, ulta_pages: list[PageHit]
) -> None:
    fake_openai.script(
        Scripted(
            pieces=["New stores drove it [", "1]. Not [", "7", "]; also [2, ", "9] lower costs."]
        )
    )
    ask, _, _ = answerer(openai_client, ulta_pages)
    heard = Heard()

    answer = await ask.answer(INVENTORIES, audience=AUDIENCE, progress=heard)

    assert answer.mode == "model"
    assert answer.text == "New stores drove it [1]. Not; also [2] lower costs."
    assert "".join(heard.texts) == answer.text
    assert len(heard.texts) >= 3
    assert not any("7" in t or "9" in t for t in heard.texts)
    assert [c.number for c in answer.citations] == [1, 2]
    assert heard.steps == ["searching your documents", f"reading pages 2, 3 and 4 of {ULTA.name}"]
    assert fake_openai.requests[0].json["stream"] is True


async def test_a_streamed_not_found_answer_is_never_heard(
    fake_openai: FakeOpenAI, openai_client: openai.AsyncOpenAI, ulta_pages: list[PageHit]
) -> None:
    fake_openai.script(Scripted(pieces=["NOT_", "FOUND The filing ", "does not say."]))
    ask, _, _ = answerer(openai_client, ulta_pages)
    heard = Heard()

    answer = await ask.answer(INVENTORIES, audience=AUDIENCE, progress=heard)

    assert answer.mode == "nothing_found"
    assert answer.text == "The filing does not say."
    assert heard.texts == []


async def test_a_stream_that_fails_before_its_first_piece_is_retried(
    fake_openai: FakeOpenAI, openai_client: openai.AsyncOpenAI, ulta_pages: list[PageHit]
) -> None:
    fake_openai.script(Scripted(status=503), Scripted(content="Stores opened [1]."))
    ask, _, _ = answerer(openai_client, ulta_pages)
    heard = Heard()

    answer = await ask.answer(INVENTORIES, audience=AUDIENCE, progress=heard)

    assert answer.text == "".join(heard.texts) == "Stores opened [1]."
    assert len(fake_openai.requests) == 2


async def test_a_stream_cut_after_it_began_is_a_model_error_not_a_retry(
    fake_openai: FakeOpenAI, openai_client: openai.AsyncOpenAI, ulta_pages: list[PageHit]
) -> None:
    fake_openai.script(Scripted(pieces=["Stores ", "opened ", "[1]."], cut_after=2))
    ask, _, _ = answerer(openai_client, ulta_pages)
    heard = Heard()

    with pytest.raises(ModelError):
        await ask.answer(INVENTORIES, audience=AUDIENCE, progress=heard)

    assert "".join(heard.texts) == "Stores opened"
    assert len(fake_openai.requests) == 1
