"""ThreadProgress: what a question's thread shows while folio works, and the streamed answer.

From the moment a question is taken the thread shows Slack's assistant status ("folio is
reading your documents…") with a loading message for each step rag reports. A workspace
that refuses the status (a missing scope, an older plan, any Slack error) gets the 👀
reaction instead. A model's answer streams into the thread (chat.startStream, appendStream,
stopStream) through ``SafeStream``, so no mention or link goes live between two pieces;
the stop carries the sources and the feedback buttons. When Slack refuses the stream or it
expires, ``finish`` says so and the Asker posts (or puts over the streamed message) the
whole answer, once.
"""

from __future__ import annotations

import logging

from bot import render
from bot.blocks import context
from bot.gateway import SlackGateway, SlackStream
from bot.mrkdwn import SafeStream, defuse_mentions
from bot.replies import WORKING, Reply
from rag import Answer, ChatError

logger = logging.getLogger(__name__)

STATUS = "is reading your documents…"
FIRST_STEP = "reading your question"
UNFINISHED = "_folio could not finish this answer._"
_STEP_CHARS = 150


class ThreadProgress:
    """rag's Progress for one question in one Slack thread."""

    streams = True

    def __init__(
        self, *, gateway: SlackGateway, question: Reply, thread: Reply, team_id: str, user_id: str
    ) -> None:
        assert question.thread_ts is not None and thread.thread_ts is not None
        self._gateway = gateway
        self._question = question  # the message asked (thread_ts: its own ts)
        self._thread = thread
        self._team_id = team_id
        self._user_id = user_id
        self._status = False  # Slack accepted the status
        self._reacted = False
        self._safe = SafeStream()
        self._stream: SlackStream | None = None
        self._streamed: list[str] = []  # the markdown handed to the stream
        self._broken = False  # Slack refused the stream or it expired
        self._stopped = False
        self.replied = False  # something was posted in the thread

    async def begin(self) -> None:
        """Show that folio took the question: the status, else the 👀 reaction."""
        try:
            await self._set_status(FIRST_STEP)
            self._status = True
        except ChatError as exc:
            logger.info("no assistant status in %s (%s); reacting", self._thread.channel, exc.code)
            await self._gateway.react(self._question.channel, self._ts, WORKING)
            self._reacted = True

    async def step(self, what: str) -> None:
        """Say what folio is doing now in the status's loading message."""
        if not self._status or self._stream is not None:
            return
        try:
            await self._set_status(what)
        except ChatError as exc:
            logger.debug("status step not shown in %s: %s", self._thread.channel, exc.detail)

    async def text(self, more: str) -> None:
        """Stream more of the (checked) answer into the thread, made safe."""
        await self._send(self._safe.feed(more))

    async def finish(self, answer: Answer, answer_id: str) -> str | None:
        """End the streamed answer with its sources and feedback buttons; its ts, or None
        when nothing was streamed or the stream failed (then the caller posts it whole)."""
        if self._stream is None:
            return None
        await self._send(self._safe.finish())
        if not self._broken and "".join(self._streamed) == render.answer_markdown(answer):
            try:
                await self._stream.stop(render.answer_tail(answer, answer_id))
                self._stopped = self.replied = True
                return self._stream.ts
            except ChatError as exc:
                logger.warning("stream in %s not stopped: %s", self._thread.channel, exc.detail)
                self._broken = True
        await self._abandon()
        return None

    @property
    def streamed_ts(self) -> str | None:
        """The ts of a streamed message that the whole answer should replace, if any."""
        return self._stream.ts if self._stream is not None else None

    async def close(self) -> None:
        """However the answer ended: stop a stream left open, take the 👀 back, and clear
        a status that no reply cleared."""
        if self._stream is not None and not self._stopped:
            await self._abandon(unfinished=True)
        if self._reacted:
            await self._gateway.unreact(self._question.channel, self._ts, WORKING)
        if self._status and not self.replied:
            try:
                await self._gateway.set_status(self._thread.channel, self._thread_ts, "")
            except ChatError as exc:
                logger.debug("status not cleared in %s: %s", self._thread.channel, exc.detail)

    async def _send(self, markdown: str) -> None:
        if not markdown or self._broken:
            return
        if self._stream is None:
            self._stream = self._gateway.stream(
                self._thread, team_id=self._team_id, user_id=self._user_id
            )
        try:
            await self._stream.append(markdown)
        except ChatError as exc:
            logger.warning("stream in %s broke: %s", self._thread.channel, exc.detail)
            self._broken = True
            return
        self._streamed.append(markdown)
        self.replied = self.replied or self._stream.ts is not None

    async def _abandon(self, *, unfinished: bool = False) -> None:
        """Stop a stream that will not carry the answer (best effort: it may have expired)."""
        assert self._stream is not None
        self._stopped = True
        if self._stream.ts is None or self._broken:
            return  # Slack never started it, or it expired: nothing left to stop
        try:
            await self._stream.stop([context(UNFINISHED)] if unfinished else [])
        except ChatError as exc:
            logger.debug("stream in %s not stopped: %s", self._thread.channel, exc.detail)

    async def _set_status(self, what: str) -> None:
        # The step may name a document: never a live mention, even in a status.
        words = defuse_mentions(what)[:_STEP_CHARS]
        loading = [words[:1].upper() + words[1:] + "…"]
        await self._gateway.set_status(self._thread.channel, self._thread_ts, STATUS, loading)

    @property
    def _ts(self) -> str:
        assert self._question.thread_ts is not None
        return self._question.thread_ts

    @property
    def _thread_ts(self) -> str:
        assert self._thread.thread_ts is not None
        return self._thread.thread_ts
