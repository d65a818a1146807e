"""AnswerLog: answers folio posted, for thread follow-ups, feedback and App Home."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rag.db._errors import translated
from rag.db._sql import clean_text, insert_for, rowcount
from rag.db.models import AnswerRow, FeedbackRow, utcnow
from rag.types import (
    Answer,
    AnswerFeedback,
    AnswerMode,
    BBox,
    Citation,
    RecentAnswer,
    RecordedAnswer,
    Turn,
)

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class AnswerLog:
    """Answers and the votes on them."""

    def __init__(
        self, *, sessions: async_sessionmaker[AsyncSession], clock: Clock = utcnow
    ) -> None:
        self._sessions = sessions
        self._clock = clock

    @translated("recording an answer")
    async def record(
        self,
        *,
        answer: Answer,
        team_id: str,
        channel_id: str,
        thread_ts: str | None,
        user_id: str,
        message_ts: str | None,
    ) -> str:
        """Record an answer; returns its id (for feedback buttons and ``set_message_ts``)."""
        answer_id = str(uuid.uuid4())
        row = AnswerRow(
            id=answer_id,
            team_id=team_id,
            channel_id=channel_id,
            thread_ts=thread_ts,
            user_id=user_id,
            question=clean_text(answer.question),
            standalone_question=_maybe_clean(answer.standalone_question),
            answer_text=clean_text(answer.text),
            mode=answer.mode,
            citations=[_citation(citation) for citation in answer.citations],
            message_ts=message_ts,
            created_at=self._clock(),
        )
        async with self._sessions() as session, session.begin():
            session.add(row)
        logger.info("recorded answer %s in %s/%s (%s)", answer_id, team_id, channel_id, answer.mode)
        return answer_id

    @translated("saving an answer's message")
    async def set_message_ts(self, answer_id: str, ts: str) -> None:
        """Remember the ts of the Slack message that carries the answer."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(AnswerRow).where(AnswerRow.id == answer_id).values(message_ts=ts)
            )

    @translated("recording an answer's uploads")
    async def set_uploads(self, answer_id: str, file_ids: Sequence[str]) -> None:
        """Remember the page images uploaded with an answer (to delete them with it)."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(AnswerRow)
                .where(AnswerRow.id == answer_id)
                .values(uploaded_files=list(file_ids))
            )

    @translated("reading an answer")
    async def get(self, answer_id: str) -> RecordedAnswer | None:
        """One recorded answer with its citations, or None when there is no such answer."""
        async with self._sessions() as session:
            row = await session.get(AnswerRow, answer_id)
        if row is None:
            return None
        mode: AnswerMode = row.mode  # type: ignore[assignment]  # written from an AnswerMode
        answer = Answer(
            question=row.question,
            text=row.answer_text,
            mode=mode,
            citations=tuple(_from_json(c) for c in row.citations),
            standalone_question=row.standalone_question,
        )
        return RecordedAnswer(row.id, row.team_id, row.channel_id, row.user_id, answer)

    @translated("reading a thread's history")
    async def history(
        self, team_id: str, channel_id: str, thread_ts: str, limit: int = 6
    ) -> list[Turn]:
        """The last ``limit`` questions and answers in a thread, oldest first."""
        query = (
            select(AnswerRow.question, AnswerRow.answer_text)
            .where(_in_thread(team_id, channel_id, thread_ts))
            .order_by(AnswerRow.created_at.desc(), AnswerRow.id.desc())
            .limit(limit)
        )
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [Turn(question=question, answer=text) for question, text in reversed(rows)]

    @translated("checking a thread")
    async def answered_thread(self, team_id: str, channel_id: str, thread_ts: str) -> bool:
        """True when folio answered in this thread (or its answer started it)."""
        query = select(exists().where(_in_thread(team_id, channel_id, thread_ts)))
        async with self._sessions() as session:
            return bool(await session.scalar(query))

    @translated("saving feedback")
    async def add_feedback(self, answer_id: str, user_id: str, value: int) -> bool:
        """Record a +1/-1 vote; a second vote by the same user replaces the first.

        Returns False, storing nothing, when there is no such answer (e.g. it was pruned);
        raises ValueError for a value other than +1 or -1 (a caller's bug).
        """
        if value not in (1, -1):
            raise ValueError(f"feedback must be +1 or -1, not {value!r}")
        async with self._sessions() as session, session.begin():
            if await session.get(AnswerRow, answer_id) is None:
                return False
            now = self._clock()
            statement = insert_for(session, FeedbackRow).values(
                id=str(uuid.uuid4()),
                answer_id=answer_id,
                user_id=user_id,
                value=value,
                created_at=now,
            )
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=["answer_id", "user_id"],
                    # A changed vote drops the reason given with the old one.
                    set_={"value": value, "created_at": now, "reason": None},
                )
            )
        return True

    @translated("saving a feedback reason")
    async def set_reason(self, answer_id: str, user_id: str, reason: str) -> bool:
        """Attach ``reason`` to this user's 👎 on the answer; False when there is none."""
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(FeedbackRow)
                .where(
                    FeedbackRow.answer_id == answer_id,
                    FeedbackRow.user_id == user_id,
                    FeedbackRow.value == -1,
                )
                .values(reason=clean_text(reason))
            )
        return rowcount(result) == 1

    @translated("reading feedback")
    async def feedback_since(
        self,
        since: datetime,
        *,
        team_id: str | None = None,
        user_id: str | None = None,
        voted_only: bool = False,
    ) -> list[AnswerFeedback]:
        """Answers since ``since``, newest first, with their votes and 👎 reasons.

        ``team_id`` and ``user_id`` (who asked) narrow them; ``voted_only`` keeps the
        answers someone voted on.
        """
        up = func.coalesce(func.sum(case((FeedbackRow.value == 1, 1), else_=0)), 0)
        down = func.coalesce(func.sum(case((FeedbackRow.value == -1, 1), else_=0)), 0)
        query = (
            select(AnswerRow, up, down)
            .outerjoin(FeedbackRow, FeedbackRow.answer_id == AnswerRow.id)
            .where(AnswerRow.created_at >= since)
            .group_by(AnswerRow.id)
            .order_by(AnswerRow.created_at.desc(), AnswerRow.id.desc())
        )
        if team_id is not None:
            query = query.where(AnswerRow.team_id == team_id)
        if user_id is not None:
            query = query.where(AnswerRow.user_id == user_id)
        if voted_only:
            query = query.having(func.count(FeedbackRow.id) > 0)
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
            reasons = await _reasons(session, [row.id for row, _, _ in rows])
        return [
            AnswerFeedback(
                id=row.id,
                question=row.question,
                answer=row.answer_text,
                created_at=row.created_at,
                channel_id=row.channel_id,
                mode=row.mode,
                up=int(ups),
                down=int(downs),
                reasons=tuple(reasons.get(row.id, ())),
                pages=tuple(
                    (str(c["file_name"]), int(c["page_number"])) for c in row.citations or ()
                ),
            )
            for row, ups, downs in rows
        ]

    @translated("listing recent answers")
    async def recent(
        self, team_id: str, limit: int = 10, *, user_id: str | None = None
    ) -> list[RecentAnswer]:
        """The newest answers in a team, optionally only those asked by ``user_id``.

        Questions from private channels are included; callers showing them to someone else
        pass ``user_id`` (App Home shows a person their own questions).
        """
        score = func.coalesce(func.sum(FeedbackRow.value), 0)
        query = (
            select(AnswerRow, score)
            .outerjoin(FeedbackRow, FeedbackRow.answer_id == AnswerRow.id)
            .where(AnswerRow.team_id == team_id)
            .group_by(AnswerRow.id)
            .order_by(AnswerRow.created_at.desc(), AnswerRow.id.desc())
            .limit(limit)
        )
        if user_id is not None:
            query = query.where(AnswerRow.user_id == user_id)
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [
            RecentAnswer(
                id=row.id,
                question=row.question,
                created_at=row.created_at,
                channel_id=row.channel_id,
                mode=row.mode,
                score=int(total),
            )
            for row, total in rows
        ]

    @translated("counting feedback")
    async def feedback_score(self, answer_id: str) -> int:
        """The sum of the votes on one answer (0 when none)."""
        query = select(func.coalesce(func.sum(FeedbackRow.value), 0)).where(
            FeedbackRow.answer_id == answer_id
        )
        async with self._sessions() as session:
            return int(await session.scalar(query) or 0)


async def _reasons(session: AsyncSession, answer_ids: Sequence[str]) -> dict[str, list[str]]:
    """The 👎 reasons given on these answers, oldest first."""
    if not answer_ids:
        return {}
    query = (
        select(FeedbackRow.answer_id, FeedbackRow.reason)
        .where(FeedbackRow.answer_id.in_(answer_ids), FeedbackRow.reason.is_not(None))
        .order_by(FeedbackRow.created_at)
    )
    found: dict[str, list[str]] = {}
    for answer_id, reason in (await session.execute(query)).all():
        if reason and reason.strip():
            found.setdefault(answer_id, []).append(reason.strip())
    return found


def _in_thread(team_id: str, channel_id: str, thread_ts: str) -> ColumnElement[bool]:
    # An answer posted at the top level (e.g. to a slash command) starts the thread that
    # follow-ups then reply in, so its own message ts counts as the thread too.
    return and_(
        AnswerRow.team_id == team_id,
        AnswerRow.channel_id == channel_id,
        or_(AnswerRow.thread_ts == thread_ts, AnswerRow.message_ts == thread_ts),
    )


def _citation(citation: Citation) -> dict[str, Any]:
    # Where the cited passage is (to highlight it again when a private answer is shared),
    # not its words: document text stays in the documents' own stores.
    return {
        "number": citation.number,
        "document_id": citation.document_id,
        "file_name": citation.file_name,
        "page_number": citation.page_number,
        "bboxes": [box.as_list() for box in citation.bboxes],
        "slack_file_id": citation.slack_file_id,
        "permalink": citation.permalink,
    }


def _from_json(data: dict[str, Any]) -> Citation:
    """A citation as ``_citation`` stored it (older records carry no boxes or links)."""
    return Citation(
        number=int(data["number"]),
        document_id=str(data["document_id"]),
        file_name=str(data["file_name"]),
        page_number=int(data["page_number"]),
        passage="",
        bboxes=tuple(BBox.from_list(box) for box in data.get("bboxes") or ()),
        slack_file_id=data.get("slack_file_id"),
        permalink=data.get("permalink"),
    )


def _maybe_clean(text: str | None) -> str | None:
    return None if text is None else clean_text(text)
