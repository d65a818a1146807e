"""AnswerLog: thread history, follow-up detection, feedback and recent answers."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rag.db import AnswerLog
from rag.db.models import AnswerRow
from rag.types import Answer, BBox, Citation, RecordedAnswer, Turn
from tests.fakes.database import FakeClock


@pytest.fixture
def answers(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> AnswerLog:
    return AnswerLog(sessions=sessions, clock=clock)


async def ask(
    answers: AnswerLog,
    clock: FakeClock,
    question: str,
    *,
    thread_ts: str | None = "100.1",
    channel_id: str = "C1",
    user_id: str = "U1",
    message_ts: str | None = None,
) -> str:
    clock.advance(1)
    answer = Answer(question=question, text=f"answer to {question}", mode="model")
    return await answers.record(
        answer=answer,
        team_id="T1",
        channel_id=channel_id,
        thread_ts=thread_ts,
        user_id=user_id,
        message_ts=message_ts,
    )


async def test_history_is_the_last_turns_oldest_first(answers: AnswerLog, clock: FakeClock) -> None:
    for n in range(8):
        await ask(answers, clock, f"q{n}")
    await ask(answers, clock, "elsewhere", thread_ts="200.2")
    await ask(answers, clock, "other channel", channel_id="C2")

    history = await answers.history("T1", "C1", "100.1", limit=6)

    assert history == [Turn(f"q{n}", f"answer to q{n}") for n in range(2, 8)]


async def test_an_answer_that_started_a_thread_counts_as_part_of_it(
    answers: AnswerLog, clock: FakeClock
) -> None:
    answer_id = await ask(answers, clock, "top-level", thread_ts=None)
    assert await answers.answered_thread("T1", "C1", "300.3") is False

    await answers.set_message_ts(answer_id, "300.3")
    await ask(answers, clock, "follow-up", thread_ts="300.3", message_ts="300.9")

    assert await answers.answered_thread("T1", "C1", "300.3") is True
    assert [turn.question for turn in await answers.history("T1", "C1", "300.3")] == [
        "top-level",
        "follow-up",
    ]


async def test_answered_thread_is_scoped_to_the_channel(
    answers: AnswerLog, clock: FakeClock
) -> None:
    await ask(answers, clock, "q", thread_ts="100.1")

    assert await answers.answered_thread("T1", "C1", "100.1") is True
    assert await answers.answered_thread("T1", "C2", "100.1") is False
    assert await answers.answered_thread("T2", "C1", "100.1") is False


async def test_citations_are_stored_without_passages(
    answers: AnswerLog, sessions: async_sessionmaker[AsyncSession]
) -> None:
    citation = Citation(1, "doc-1", "report.pdf", 4, passage="long text", slack_file_id="F1")
    answer = Answer(
        question="q",
        text="It grew [1].",
        mode="model",
        citations=(citation,),
        standalone_question="sq",
    )

    answer_id = await answers.record(
        answer=answer, team_id="T1", channel_id="C1", thread_ts="1.1", user_id="U1", message_ts=None
    )

    async with sessions() as session:
        row = await session.get_one(AnswerRow, answer_id)
    assert row.citations == [
        {
            "number": 1,
            "document_id": "doc-1",
            "file_name": "report.pdf",
            "page_number": 4,
            "bboxes": [],
            "slack_file_id": "F1",
            "permalink": None,
        }
    ]
    assert row.standalone_question == "sq"


async def test_a_second_vote_replaces_the_first(answers: AnswerLog, clock: FakeClock) -> None:
    answer_id = await ask(answers, clock, "q")

    assert await answers.add_feedback(answer_id, "U1", 1) is True
    assert await answers.add_feedback(answer_id, "U1", -1) is True
    assert await answers.add_feedback(answer_id, "U2", -1) is True

    assert await answers.feedback_score(answer_id) == -2


async def test_feedback_on_an_unknown_answer_is_refused(answers: AnswerLog) -> None:
    assert await answers.add_feedback("no-such-answer", "U1", 1) is False


@pytest.mark.parametrize("value", [0, 2, -5])
async def test_feedback_other_than_plus_or_minus_one_raises_value_error(
    answers: AnswerLog, clock: FakeClock, value: int
) -> None:
    answer_id = await ask(answers, clock, "q")

    with pytest.raises(ValueError):
        await answers.add_feedback(answer_id, "U1", value)


async def test_recent_lists_newest_answers_with_their_scores(
    answers: AnswerLog, clock: FakeClock
) -> None:
    first = await ask(answers, clock, "first")
    second = await ask(answers, clock, "second", channel_id="C2", user_id="U2")
    third = await ask(answers, clock, "third")
    await answers.add_feedback(first, "U1", 1)
    await answers.add_feedback(first, "U2", 1)
    await answers.add_feedback(third, "U3", -1)

    recent = await answers.recent("T1", limit=2)
    mine = await answers.recent("T1", user_id="U2")

    assert [(r.id, r.question, r.score) for r in recent] == [
        (third, "third", -1),
        (second, "second", 0),
    ]
    assert recent[0].created_at == clock.now and recent[0].mode == "model"
    assert [(r.question, r.channel_id) for r in mine] == [("second", "C2")]
    assert [r.score for r in await answers.recent("T1")] == [-1, 0, 2]
    assert await answers.recent("T2") == []


async def test_a_recorded_answer_reads_back_with_its_citations_and_asker(
    answers: AnswerLog,
) -> None:
    citation = Citation(
        number=1,
        document_id="6f1c1a8e-0000-4000-8000-000000000001",
        file_name="q3.pdf",
        page_number=4,
        passage="Revenue grew 11%.",
        bboxes=(BBox(72.0, 100.0, 300.5, 120.2),),
        slack_file_id="F1",
        permalink="https://example.slack.com/files/U1/F1/q3.pdf",
    )
    answer = Answer("how much?", "Eleven percent [1].", "model", (citation,), "How much?")
    answer_id = await answers.record(
        answer=answer, team_id="T1", channel_id="C1", thread_ts=None, user_id="U1", message_ts=None
    )

    recorded = await answers.get(answer_id)

    without_passage = dataclasses.replace(citation, passage="")
    stored = dataclasses.replace(answer, citations=(without_passage,))
    assert recorded == RecordedAnswer(answer_id, "T1", "C1", "U1", stored)
    assert await answers.get("6f1c1a8e-0000-4000-8000-00000000dead") is None


async def test_a_down_vote_keeps_its_reason_until_the_vote_changes(
    answers: AnswerLog, clock: FakeClock
) -> None:
    answer_id = await ask(answers, clock, "q")
    await answers.add_feedback(answer_id, "U1", 1)
    assert await answers.set_reason(answer_id, "U1", "no reason on a 👍") is False

    await answers.add_feedback(answer_id, "U1", -1)
    assert await answers.set_reason(answer_id, "U1", "wrong quarter\x00") is True
    [before] = await answers.feedback_since(clock.now - timedelta(days=1))
    await answers.add_feedback(answer_id, "U1", 1)
    [after] = await answers.feedback_since(clock.now - timedelta(days=1))

    assert (before.up, before.down, before.reasons) == (0, 1, ("wrong quarter",))
    assert (after.up, after.down, after.reasons) == (1, 0, ())


async def test_feedback_since_counts_votes_per_answer_and_filters_by_asker_and_votes(
    answers: AnswerLog, clock: FakeClock
) -> None:
    old = await ask(answers, clock, "last month")
    clock.advance(30 * 86_400)
    since = clock.now
    mine = await ask(answers, clock, "mine")
    theirs = await ask(answers, clock, "theirs", user_id="U2")
    await ask(answers, clock, "nobody voted")
    for voter, value in (("U1", 1), ("U2", 1), ("U3", -1)):
        await answers.add_feedback(mine, voter, value)
    await answers.add_feedback(theirs, "U1", -1)
    await answers.add_feedback(old, "U1", 1)

    week = await answers.feedback_since(since, team_id="T1", user_id="U1")
    voted = await answers.feedback_since(since, voted_only=True)

    assert [(f.question, f.up, f.down) for f in week] == [("nobody voted", 0, 0), ("mine", 2, 1)]
    assert [f.id for f in voted] == [theirs, mine]
