"""Questions: the answer use case an adapter calls, from a question to everything it posts.

``ask`` reads the thread's history, answers with the Answerer, links each citation to its
document's Slack file and permalink, records the answer (its id goes on the feedback
buttons), and renders the cited pages with their passages highlighted. One ``PageBatch``
serves the whole answer: the pages the model read are the pages the person gets, each
rendered once, and each document's bytes are read once.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import PurePosixPath

from rag._images import question_picture
from rag.answer._answerer import Answerer
from rag.answer._attached import Attachments
from rag.answer._pages import PageBatch, PageRenderer
from rag.answer._progress import SILENT, Progress
from rag.db import AnswerLog, Catalog, ChannelSettingsStore
from rag.types import (
    Answer,
    Answered,
    AnswerFeedback,
    BBox,
    Citation,
    Document,
    PageHit,
    PageImage,
    Question,
    Scope,
    Turn,
    page_label,
)

MAX_PAGE_IMAGES = 4
MAX_ATTACHED = 2  # documents read per question
MAX_ATTACHED_PAGES = 4  # of their pages, offered to the answer first
REASON_CHARS = 1000
_UNSAFE_NAME = re.compile(r"[^\w.-]+")
# Words a question in a help channel starts with when it carries no question mark.
QUESTION_WORDS = frozenset(
    "what why how when where who whom whose which is are was were can could do does did "
    "should would will has have any anyone".split()
)
_FIRST_WORD = re.compile(r"[^\W\d_]+")


def looks_like_question(text: str) -> bool:
    """True for text that ends with "?" or starts with a question word ("how do I…")."""
    text = text.strip()
    if not text:
        return False
    if text.rstrip(" )\"'”’").endswith(("?", "？")):
        return True
    first = _FIRST_WORD.match(text)
    return first is not None and first.group().lower() in QUESTION_WORDS


class Questions:
    """Answers questions in conversations, remembers the answers and the votes on them."""

    def __init__(
        self,
        *,
        answerer: Answerer,
        pages: PageRenderer,
        log: AnswerLog,
        channels: ChannelSettingsStore,
        attachments: Attachments | None = None,
        catalog: Catalog | None = None,
        max_page_images: int = MAX_PAGE_IMAGES,
        max_attached_pages: int = MAX_ATTACHED_PAGES,
    ) -> None:
        self._attachments = attachments
        self._catalog = catalog  # counts the documents a question searches, for its progress
        self._max_attached_pages = max_attached_pages
        self._answerer = answerer
        self._pages = pages
        self._log = log
        self._channels = channels
        self._max_page_images = max_page_images

    async def ask(self, question: Question, progress: Progress = SILENT) -> Answered:
        """Answer, record and illustrate one question; ModelError when the model fails.

        ``progress`` hears what folio is doing and, when it ``streams``, the answer's text
        as the model writes it (the same text, checked, that the Answered carries).
        """
        audience = question.audience
        for image in question.images:
            question_picture(image.data, image.name)
        # Pictures are untrusted bytes: decoded in a child, only folio's PNG comes back.
        pictures = [
            dataclasses.replace(image, data=await self._pages.picture(image.data, image.name))
            for image in question.images
        ]
        question = dataclasses.replace(question, images=tuple(pictures))
        history: list[Turn] = []
        if question.follow_up and question.thread is not None:
            history = await self._log.history(
                audience.team_id, audience.channel_id, question.thread
            )
        batch = self._pages.batch()
        attached = await self._attached(question, batch)
        answer = await self._answerer.answer(
            question.text,
            audience=audience,
            images=question.images,
            history=history,
            pages=batch,
            thread=question.context,
            attached=attached,
            progress=progress,
            documents=await self._catalog.count_answering(audience) if self._catalog else None,
        )
        answer = await _with_links(answer, batch)
        answer_id = await self._log.record(
            answer=answer,
            team_id=audience.team_id,
            channel_id=audience.channel_id,
            thread_ts=question.thread,
            user_id=question.user_id,
            message_ts=None,
        )
        pages, notes = await _page_images(answer.citations, batch, self._max_page_images)
        return Answered(
            answer=answer, answer_id=answer_id, pages=tuple(pages), page_notes=tuple(notes)
        )

    async def _attached(self, question: Question, batch: PageBatch) -> list[PageHit]:
        """The pages of the documents sent with the question that best match it."""
        if not question.documents or self._attachments is None:
            return []
        scope = Scope(question.audience.team_id, question.audience.channel_id, True)
        read = []
        for file in question.documents[:MAX_ATTACHED]:
            attachment = await self._attachments.read(file, scope)
            batch.add(attachment.document, attachment.data)
            read.append(attachment)
        return await self._attachments.search(read, question.text, self._max_attached_pages)

    async def shared(self, answer_id: str, user_id: str) -> Answered | None:
        """A private answer again, with its cited pages, for ``user_id`` to post for everyone.

        None when the answer is gone or was someone else's. Pages of documents forgotten
        since are left out with a note.
        """
        recorded = await self._log.get(answer_id)
        if recorded is None or recorded.user_id != user_id:
            return None
        batch = self._pages.batch()
        pages, notes = await _page_images(recorded.answer.citations, batch, self._max_page_images)
        return Answered(
            answer=recorded.answer,
            answer_id=answer_id,
            pages=tuple(pages),
            page_notes=tuple(notes),
        )

    async def posted(self, answer_id: str, message_ts: str) -> None:
        """Remember the message that carries the answer (follow-ups may reply under it)."""
        await self._log.set_message_ts(answer_id, message_ts)

    async def uploaded(self, answer_id: str, file_ids: Sequence[str]) -> None:
        """Remember the page images posted with the answer; forgetting a cited document
        deletes them (see ``Library.forget``)."""
        if file_ids:
            await self._log.set_uploads(answer_id, file_ids)

    async def is_follow_up(self, team_id: str, channel_id: str, thread: str) -> bool:
        """True when folio answered in this thread and the channel wants follow-ups answered."""
        if not await self._log.answered_thread(team_id, channel_id, thread):
            return False
        return (await self._channels.get(team_id, channel_id)).followups

    async def feedback(self, answer_id: str, user_id: str, *, helpful: bool) -> bool:
        """Record one person's vote on an answer; False when the answer is gone."""
        return await self._log.add_feedback(answer_id, user_id, 1 if helpful else -1)

    async def reason(self, answer_id: str, user_id: str, reason: str) -> bool:
        """Keep what a person said was wrong with an answer they voted 👎; False when
        they have no 👎 on it (any more). A blank reason is not kept."""
        reason = reason.strip()[:REASON_CHARS]
        if not reason:
            return False
        return await self._log.set_reason(answer_id, user_id, reason)

    async def voted(self, *, since: datetime, team_id: str | None = None) -> list[AnswerFeedback]:
        """The answers someone voted on since ``since``, with votes, reasons and cited pages."""
        return await self._log.feedback_since(since, team_id=team_id, voted_only=True)


async def _with_links(answer: Answer, batch: PageBatch) -> Answer:
    """Citations with the Slack file and permalink of their document, for the sources."""
    citations = []
    for citation in answer.citations:
        document = await batch.document(citation.document_id)
        citations.append(_linked(citation, document))
    return dataclasses.replace(answer, citations=tuple(citations))


def _linked(citation: Citation, document: Document | None) -> Citation:
    if document is None:
        return citation
    return dataclasses.replace(
        citation,
        slack_file_id=citation.slack_file_id or document.slack_file_id,
        permalink=citation.permalink or document.permalink,
    )


async def _page_images(
    citations: Sequence[Citation], batch: PageBatch, limit: int
) -> tuple[list[PageImage], list[str]]:
    """The cited pages, each once, with every cited passage on it highlighted, and a note
    for each page that could not be drawn."""
    pages: dict[tuple[str, int], tuple[Citation, list[BBox]]] = {}
    for citation in citations:
        key = (citation.document_id, citation.page_number)
        pages.setdefault(key, (citation, []))[1].extend(citation.bboxes)
    images: list[PageImage] = []
    notes: list[str] = []
    for (document_id, page), (first, boxes) in list(pages.items())[:limit]:
        png = await batch.page_png(document_id, page, boxes)
        if png is not None:
            images.append(page_image(first, png))
        elif why := batch.why_missing(document_id, page):
            where = page_label(first.file_name, page, short=True)
            notes.append(f"The image of {first.file_name}, {where} {why} and is left out.")
    return images, notes


def page_image(citation: Citation, png: bytes) -> PageImage:
    """A cited page's PNG, named for an upload: ``q3-p4.png``, ``[1] q3.pdf, p. 4``."""
    stem = PurePosixPath(citation.file_name).stem or "page"
    safe_stem = _UNSAFE_NAME.sub("_", stem)[:80]
    where = page_label(citation.file_name, citation.page_number, short=True)
    return PageImage(
        filename=f"{safe_stem}-p{citation.page_number}.png",
        title=f"[{citation.number}] {citation.file_name}, {where}",
        png=png,
        alt_text=f"{citation.page_label.capitalize()} of {citation.file_name}, cited passage "
        "highlighted",
    )
