"""The answer path over Slack: mention, DM, follow-up and `/folio ask` all end here.

One question is claimed once (``ask:{team}:{channel}:{ts}`` in the shared event log),
checked against the rate limits (over them: a private note saying when to retry), shown
as being worked on (Slack's assistant status, else a reaction: ``bot.progress``), answered
by rag (``Questions.ask``: the answer, its id and the cited pages) while a model's answer
streams into the thread, finished with sources and feedback buttons (or posted whole as
Block Kit), and followed by the cited pages, highlighted, in one upload. A private question
(`/folio ask` without ``--public``) is answered in a note only the asker sees, with a Share
button (``bot.share``).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bot import render
from bot.blocks import RenderedMessage, clip
from bot.files import SlackFile, SlackFiles
from bot.gateway import SlackGateway
from bot.metrics import Metrics
from bot.mrkdwn import mrkdwn_safe
from bot.progress import ThreadProgress
from bot.replies import Reply
from bot.share import private_messages
from rag import (
    Answered,
    Audiences,
    ChatError,
    EventLog,
    QueryImage,
    Question,
    Questions,
    RateLimits,
    Silent,
    ThreadMessage,
)

logger = logging.getLogger(__name__)

Source = Literal["mention", "dm", "command", "followup", "auto"]

ANNOUNCE_LIMIT = 2000  # characters of the question; escaping may lengthen it
TITLE_LIMIT = 80
THREAD_PAGE = 200  # messages of a thread read for context (rag keeps the newest few)
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
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
    private: bool = False  # answered in a note only the asker sees

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
    def from_command(
        cls, command: Mapping[str, Any], text: str, thread: Reply | None, *, team_id: str
    ) -> SlackQuestion:
        """A `/folio ask` question: answered in the thread of the message that announced it,
        or (no ``thread``) privately, claimed by the command's trigger id."""
        if thread is None:
            key = str(command.get("trigger_id") or uuid.uuid4())
            return cls(
                team_id=team_id,
                channel_id=str(command["channel_id"]),
                user_id=str(command["user_id"]),
                text=text.strip(),
                ts=key,
                thread_ts=key,
                source="command",
                private=True,
            )
        assert thread.thread_ts is not None
        return cls(
            team_id=team_id,
            channel_id=thread.channel,
            user_id=str(command["user_id"]),
            text=text.strip(),
            ts=thread.thread_ts,
            thread_ts=thread.thread_ts,
            source="command",
        )

    @property
    def note(self) -> Reply:
        """Where a private note to the asker goes: their thread if they asked in one."""
        thread = self.thread_ts if self.in_thread else None
        return Reply(self.channel_id, thread, user=self.user_id)


class Asker:
    """Answers questions in Slack threads through rag's Questions."""

    def __init__(
        self,
        *,
        questions: Questions,
        audiences: Audiences,
        events: EventLog,
        files: SlackFiles,
        gateway: SlackGateway,
        metrics: Metrics,
        limits: RateLimits,
    ) -> None:
        self._limits = limits
        self._questions = questions
        self._audiences = audiences
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
        if not await self._admitted(question):
            return None
        await self._title(question)
        thread = Reply(question.channel_id, question.thread_ts)
        if question.private:  # a note only the asker sees: no status, no stream
            return await self._answer(question, thread, None)
        progress = ThreadProgress(
            gateway=self._gateway,
            question=Reply(question.channel_id, question.ts),
            thread=thread,
            team_id=question.team_id,
            user_id=question.user_id,
        )
        await progress.begin()
        try:
            return await self._answer(question, thread, progress)
        finally:
            await progress.close()

    async def _answer(
        self, question: SlackQuestion, thread: Reply, progress: ThreadProgress | None
    ) -> Answered | None:
        started = time.perf_counter()
        images = await self._files.query_images(question.files)
        if not question.text and not images:
            await self._nothing_asked(question, thread)
            return None
        answered = await self._questions.ask(
            await self._question(question, images), progress or Silent()
        )
        if progress is None:
            for message in private_messages(answered):
                await self._gateway.send(question.note, message)
        else:
            await self._post(answered, thread, progress)
        self._metrics.observe("folio_answer_seconds", time.perf_counter() - started)
        mode = answered.answer.mode
        self._metrics.inc("folio_questions_answered_total", source=question.source, mode=mode)
        return answered

    async def _admitted(self, question: SlackQuestion) -> bool:
        """Claimed here first, and within the rate limits (else the asker is told when)."""
        claim = f"ask:{question.team_id}:{question.channel_id}:{question.ts}"
        if not await self._events.first_time(claim, question.team_id):
            logger.info("question %s already claimed", claim)
            return False
        wait = self._limits.admit(question.team_id, question.channel_id, question.user_id)
        if wait is None:
            return True
        logger.info("question %s over the rate limit; retry in %ds", claim, wait)
        self._metrics.inc("folio_questions_limited_total", source=question.source)
        await self._gateway.send(question.note, render.rate_limited(wait))
        return False

    async def _question(self, question: SlackQuestion, images: Sequence[QueryImage]) -> Question:
        """rag's Question: who asks where, the pictures, a DM's documents, the thread."""
        audience = await self._audiences.audience(
            question.team_id, question.channel_id, question.user_id
        )
        dm = question.source == "dm"
        return Question(
            text=question.text,
            audience=audience,
            user_id=question.user_id,
            thread=None if question.private else question.thread_ts,
            follow_up=question.in_thread,
            images=tuple(images),
            documents=tuple(await self._files.query_documents(question.files)) if dm else (),
            context=await self._thread_context(question),
        )

    async def _nothing_asked(self, question: SlackQuestion, thread: Reply) -> None:
        """No words and no picture: say how to ask; files alone are the indexer's, or (in a
        DM) get told what folio can do with them."""
        if not question.files:
            where = question.note if question.private else thread
            await self._gateway.send(where, render.error_message(EMPTY_QUESTION))
        elif question.source == "dm" and (names := await self._files.pdf_names(question.files)):
            await self._gateway.send(thread, render.files_without_question(names))

    async def _thread_context(self, question: SlackQuestion) -> tuple[ThreadMessage, ...]:
        """The earlier messages by people in the thread a mention was made in (not folio's).

        Read only for a mention inside an existing thread; a thread folio cannot read
        (scope, a channel it left) gives no context rather than no answer.
        """
        if question.source != "mention" or not question.in_thread:
            return ()
        try:
            replies = await self._gateway.thread_replies(
                question.channel_id, question.thread_ts, limit=THREAD_PAGE
            )
            folio = await self._gateway.bot_user_id()
        except ChatError as exc:
            logger.info("thread %s unreadable: %s", question.thread_ts, exc.detail)
            return ()
        earlier = [
            ThreadMessage(
                author=str(m["user"]), text=_MENTION.sub(r"@\1", str(m.get("text") or ""))
            )
            for m in replies
            if m.get("user")
            and m.get("user") != folio
            and not m.get("bot_id")
            and float(m.get("ts") or 0) < float(question.ts)
        ]
        return tuple(m for m in earlier if m.text.strip())

    async def _title(self, question: SlackQuestion) -> None:
        """Name an assistant thread (a thread in folio's DM) after its first question."""
        if question.source != "dm" or not question.in_thread or not question.text:
            return
        key = f"title:{question.team_id}:{question.channel_id}:{question.thread_ts}"
        if await self._events.first_time(key, question.team_id):
            title = clip(question.text, TITLE_LIMIT)
            await self._gateway.set_title(question.channel_id, question.thread_ts, title)

    async def _post(self, answered: Answered, thread: Reply, progress: ThreadProgress) -> None:
        """The answer (streamed, else posted whole), then its pages in one upload."""
        last_ts = await progress.finish(answered.answer, answered.answer_id)
        if last_ts is None:
            last_ts = await self._post_whole(answered, thread, progress.streamed_ts)
            progress.replied = True
        if last_ts is not None:
            await self._questions.posted(answered.answer_id, last_ts)
        assert thread.thread_ts is not None
        uploaded = await self._gateway.upload_pages(
            channel=thread.channel, thread_ts=thread.thread_ts, images=answered.pages
        )
        await self._questions.uploaded(answered.answer_id, uploaded)
        if answered.page_notes:
            await self._gateway.send(thread, render.page_notes_message(answered.page_notes))

    async def _post_whole(
        self, answered: Answered, thread: Reply, streamed_ts: str | None
    ) -> str | None:
        """The answer's messages; the first goes over a stream that broke, when Slack lets it."""
        messages = render.answer_messages(answered.answer, answer_id=answered.answer_id)
        last_ts = None
        for message in messages:
            if streamed_ts is not None:
                last_ts = await self._replace(thread.channel, streamed_ts, message)
                streamed_ts = None
                if last_ts is not None:
                    continue
            last_ts = await self._gateway.send(thread, message)
        return last_ts

    async def _replace(self, channel: str, ts: str, message: RenderedMessage) -> str | None:
        """chat.update the streamed message with ``message``; None when Slack refuses."""
        try:
            await self._gateway.update(channel, ts, message)
        except ChatError as exc:
            logger.warning("streamed answer %s/%s not replaced: %s", channel, ts, exc.detail)
            return None
        return ts
