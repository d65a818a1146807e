"""The answer path over Slack: mention, DM, follow-up and `/folio ask` all end here.

One question is claimed once (``ask:{team}:{channel}:{ts}`` in the shared event log), shown
as being worked on with a reaction, answered by rag's Answerer with the pictures attached to
it, posted in its thread as Block Kit with sources and feedback buttons, recorded for thread
memory, and followed by the cited pages, highlighted, in one upload.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Literal

from slack_sdk.web.async_client import AsyncWebClient

from bot import render
from bot.files import SlackFile, SlackFiles
from bot.metrics import Metrics
from bot.mrkdwn import mrkdwn_safe
from bot.replies import Reply, working
from bot.slack_io import PageImage, upload_page_images
from rag import page_label
from rag._services import Services
from rag.types import Answer, Audience, BBox, Citation, Document, QueryImage, Turn

logger = logging.getLogger(__name__)

Source = Literal["mention", "dm", "command", "followup"]

MAX_PAGE_IMAGES = 4
ANNOUNCE_LIMIT = 2000  # characters of the question; escaping may lengthen it
EMPTY_QUESTION = (
    "Ask a question after the mention, for example: what drove the change in inventories? "
    "You can attach a screenshot too."
)
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


@dataclass(frozen=True, slots=True)
class Question:
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

    @property
    def audience(self) -> Audience:
        """Who asked, for the permission rule: the workspace and the channel."""
        return Audience(self.team_id, self.channel_id)

    @classmethod
    def from_event(
        cls, event: Mapping[str, Any], *, team_id: str, source: Source, bot_user_id: str | None
    ) -> Question:
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
    def from_command(cls, command: Mapping[str, Any], text: str, thread: Reply) -> Question:
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
    """Answers questions in Slack threads through rag's Answerer."""

    def __init__(
        self,
        *,
        services: Services,
        client: AsyncWebClient,
        files: SlackFiles,
        metrics: Metrics,
    ) -> None:
        self._services = services
        self._client = client
        self._files = files
        self._metrics = metrics

    async def is_followup(self, team_id: str, channel_id: str, thread_ts: str) -> bool:
        """True when folio answered in this thread and the channel wants follow-ups answered."""
        answers, channels = self._services.answers, self._services.channels
        if not await answers.answered_thread(team_id, channel_id, thread_ts):
            return False
        return (await channels.get(team_id, channel_id)).followups

    async def announce(self, command: Mapping[str, Any], text: str) -> Reply:
        """Post "<@user> asked: …" for a slash command; its thread is where the answer goes."""
        user = str(command["user_id"])
        who = f"<@{user}>" if _USER_ID.match(user) else mrkdwn_safe(user)
        flat = " ".join(text.split())
        if len(flat) > ANNOUNCE_LIMIT:
            flat = flat[: ANNOUNCE_LIMIT - 1] + "…"
        question = mrkdwn_safe(flat)
        response = await self._client.chat_postMessage(
            channel=str(command["channel_id"]),
            text=f"{who} asked: {question}",
            unfurl_links=False,
            unfurl_media=False,
        )
        return Reply(str(command["channel_id"]), str(response["ts"]))

    async def ask(self, question: Question) -> Answer | None:
        """Answer once in the question's thread; None when it was already claimed or empty."""
        claim = f"ask:{question.team_id}:{question.channel_id}:{question.ts}"
        if not await self._services.events.first_time(claim, question.team_id):
            logger.info("question %s already claimed", claim)
            return None
        thread = Reply(question.channel_id, question.thread_ts)
        async with working(self._client, question.channel_id, question.ts):
            started = time.perf_counter()
            images = await self._files.query_images(question.files)
            if not question.text and not images:
                if not question.files:  # files without a question are the indexer's business
                    await thread.send(self._client, render.error_message(EMPTY_QUESTION))
                return None
            answer = await self._answer(question, images)
            await self._post(question, answer, thread)
            self._metrics.observe("folio_answer_seconds", time.perf_counter() - started)
            self._metrics.inc(
                "folio_questions_answered_total", source=question.source, mode=answer.mode
            )
        return answer

    async def _answer(self, question: Question, images: Sequence[QueryImage]) -> Answer:
        history: list[Turn] = []
        if question.in_thread:
            history = await self._services.answers.history(
                question.team_id, question.channel_id, question.thread_ts
            )
        answer = await self._services.answerer.answer(
            question.text, audience=question.audience, images=images, history=history
        )
        return await self._with_links(answer)

    async def _post(self, question: Question, answer: Answer, thread: Reply) -> None:
        answer_id = await self._services.answers.record(
            answer=answer,
            team_id=question.team_id,
            channel_id=question.channel_id,
            thread_ts=question.thread_ts,
            user_id=question.user_id,
            message_ts=None,
        )
        last_ts = None
        for message in render.answer_messages(answer, answer_id=answer_id):
            last_ts = await thread.send(self._client, message)
        if last_ts is not None:
            await self._services.answers.set_message_ts(answer_id, last_ts)
        images = await self._page_images(answer.citations)
        await upload_page_images(
            self._client, channel=question.channel_id, thread_ts=question.thread_ts, images=images
        )

    async def _with_links(self, answer: Answer) -> Answer:
        """Citations with the Slack file and permalink of their document, for the sources."""
        documents: dict[str, Document | None] = {}
        for citation in answer.citations:
            if citation.document_id not in documents:
                documents[citation.document_id] = await self._services.catalog.get(
                    citation.document_id
                )
        citations = tuple(_linked(c, documents[c.document_id]) for c in answer.citations)
        return dataclasses.replace(answer, citations=citations)

    async def _page_images(self, citations: Sequence[Citation]) -> list[PageImage]:
        """The cited pages, each once, with every cited passage on it highlighted."""
        pages: dict[tuple[str, int], tuple[Citation, list[BBox]]] = {}
        for citation in citations:
            key = (citation.document_id, citation.page_number)
            pages.setdefault(key, (citation, []))[1].extend(citation.bboxes)
        images = []
        for (document_id, page), (first, boxes) in list(pages.items())[:MAX_PAGE_IMAGES]:
            png = await self._services.pages.page_png(document_id, page, boxes)
            if png is not None:
                images.append(_page_image(first, png))
        return images


def _linked(citation: Citation, document: Document | None) -> Citation:
    if document is None:
        return citation
    return dataclasses.replace(
        citation,
        slack_file_id=citation.slack_file_id or document.slack_file_id,
        permalink=citation.permalink or document.permalink,
    )


def _page_image(citation: Citation, png: bytes) -> PageImage:
    stem = PurePosixPath(citation.file_name).stem or "page"
    safe_stem = re.sub(r"[^\w.-]+", "_", stem)[:80]
    where = page_label(citation.file_name, citation.page_number, short=True)
    return PageImage(
        filename=f"{safe_stem}-p{citation.page_number}.png",
        title=f"[{citation.number}] {citation.file_name}, {where}",
        png=png,
        alt_text=f"{citation.page_label.capitalize()} of {citation.file_name}, cited passage "
        "highlighted",
    )
