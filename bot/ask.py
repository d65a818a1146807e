"""The answer path over Slack: mention, DM, follow-up and `/folio ask` all end here.

One question is claimed once (``ask:{team}:{channel}:{ts}`` in the shared event log), shown
as being worked on with a reaction, answered by rag (``Questions.ask``: the answer, its id
and the cited pages), posted in its thread as Block Kit with sources and feedback buttons,
and followed by the cited pages, highlighted, in one upload.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bot import render
from bot.blocks import RenderedMessage
from bot.files import SlackFile, SlackFiles
from bot.gateway import SlackGateway
from bot.metrics import Metrics
from bot.mrkdwn import mrkdwn_safe
from bot.replies import Reply
from rag import Answered, Audience, EventLog, Question, Questions

logger = logging.getLogger(__name__)

Source = Literal["mention", "dm", "command", "followup"]

ANNOUNCE_LIMIT = 2000  # characters of the question; escaping may lengthen it
EMPTY_QUESTION = (
    "Ask a question after the mention, for example: what drove the change in inventories? "
    "You can attach a screenshot too."
)
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


@dataclass(frozen=True, slots=True)
class SlackQuestion:
    """A question as Slack delivered it, whichever way it was asked."""

    team_id: str
    channel_id: str
    user_id: str
    text: str
    ts: str
    thread_ts: str
    source: Source
    in_thread: bool = False
    files: tuple[SlackFile, ...] = ()

    @classmethod
    def from_event(
        cls, event: Mapping[str, Any], *, team_id: str, source: Source, bot_user_id: str | None
    ) -> SlackQuestion:
        """A question from an app_mention or message event (the bot's mention removed)."""
        text = str(event.get("text") or "")
        if bot_user_id:
            text = text.replace(f"<@{bot_user_id}>", " ")
        ts = str(event["ts"])
        thread_ts = str(event.get("thread_ts") or ts)
        return cls(
            team_id=team_id,
            channel_id=str(event["channel"]),
            user_id=str(event.get("user") or ""),
            text=" ".join(text.split()),
            ts=ts,
            thread_ts=thread_ts,
            source=source,
            in_thread=thread_ts != ts,
            files=tuple(event.get("files") or ()),
        )

    @classmethod
    def from_command(cls, command: Mapping[str, Any], text: str, thread: Reply) -> SlackQuestion:
        """A `/folio ask` question, answered in the thread of the message that announced it."""
        assert thread.thread_ts is not None
        return cls(
            team_id=str(command["team_id"]),
            channel_id=thread.channel,
            user_id=str(command["user_id"]),
            text=text.strip(),
            ts=thread.thread_ts,
            thread_ts=thread.thread_ts,
            source="command",
        )


class Asker:
    """Answers questions in Slack threads through rag's Questions."""

    def __init__(
        self,
        *,
        questions: Questions,
        events: EventLog,
        files: SlackFiles,
        gateway: SlackGateway,
        metrics: Metrics,
    ) -> None:
        self._questions = questions
        self._events = events
        self._files = files
        self._gateway = gateway
        self._metrics = metrics

    async def announce(self, command: Mapping[str, Any], text: str) -> Reply:
        """Post "<@user> asked: …" for a slash command; its thread is where the answer goes."""
        user = str(command["user_id"])
        who = f"<@{user}>" if _USER_ID.match(user) else mrkdwn_safe(user)
        flat = " ".join(text.split())
        if len(flat) > ANNOUNCE_LIMIT:
            flat = flat[: ANNOUNCE_LIMIT - 1] + "…"
        channel = str(command["channel_id"])
        message = RenderedMessage(text=f"{who} asked: {mrkdwn_safe(flat)}", blocks=[])
        ts = await self._gateway.send(Reply(channel), message)
        return Reply(channel, ts)

    async def ask(self, question: SlackQuestion) -> Answered | None:
        """Answer once in the question's thread; None when it was already claimed or empty."""
        claim = f"ask:{question.team_id}:{question.channel_id}:{question.ts}"
        if not await self._events.first_time(claim, question.team_id):
            logger.info("question %s already claimed", claim)
            return None
        thread = Reply(question.channel_id, question.thread_ts)
        async with self._gateway.working(question.channel_id, question.ts):
            started = time.perf_counter()
            images = await self._files.query_images(question.files)
            if not question.text and not images:
                if not question.files:  # files without a question are the indexer's business
                    await self._gateway.send(thread, render.error_message(EMPTY_QUESTION))
                return None
            answered = await self._questions.ask(
                Question(
                    text=question.text,
                    audience=Audience(question.team_id, question.channel_id),
                    user_id=question.user_id,
                    thread=question.thread_ts,
                    follow_up=question.in_thread,
                    images=tuple(images),
                )
            )
            await self._post(answered, thread)
            self._metrics.observe("folio_answer_seconds", time.perf_counter() - started)
            mode = answered.answer.mode
            self._metrics.inc("folio_questions_answered_total", source=question.source, mode=mode)
        return answered

    async def _post(self, answered: Answered, thread: Reply) -> None:
        """The answer's messages, then its pages in one upload, in the thread."""
        last_ts = None
        for message in render.answer_messages(answered.answer, answer_id=answered.answer_id):
            last_ts = await self._gateway.send(thread, message)
        if last_ts is not None:
            await self._questions.posted(answered.answer_id, last_ts)
        assert thread.thread_ts is not None
        await self._gateway.upload_pages(
            channel=thread.channel, thread_ts=thread.thread_ts, images=answered.pages
        )
        if answered.page_notes:
            await self._gateway.send(thread, render.page_notes_message(answered.page_notes))
