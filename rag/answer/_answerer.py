"""Answerer: a question (with pictures and thread history) -> a cited Answer.

The flow: make a follow-up standalone -> describe attached pictures -> hybrid search
(text + the pictures' own bytes for the CLIP leg) -> numbered sources with the top page
images -> the model's answer -> every ``[n]`` checked against the sources. Without a
model the answer is extractive: the best passages quoted, clearly labelled.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from typing import Protocol

from rag._llm import VisionModel
from rag.answer._citations import check_citations, extractive, key_terms, strip_citations
from rag.answer._progress import SILENT, Progress, reading, searching
from rag.answer._prompts import NOT_FOUND, SourceText
from rag.answer._retrieve import interleave
from rag.answer._streaming import AnswerStream
from rag.settings import LlmConfig
from rag.types import Answer, Audience, BBox, PageHit, QueryImage, ThreadMessage, Turn

__all__ = ["NOTHING_FOUND", "Answerer", "PageImages", "Searcher"]

logger = logging.getLogger(__name__)

NOTHING_FOUND = "I couldn't find this in the indexed documents."
_SOURCE_CHARS = 1500
_HEURISTIC_TERMS = 8
_NOT_FOUND_PREFIX = re.compile(rf"^[\W_]*{NOT_FOUND}[\W_]*", re.UNICODE)
# The conversation read as context: its newest messages, within both caps.
THREAD_MESSAGES = 20
THREAD_CHARS = 2000


class Searcher(Protocol):
    """Hybrid retrieval as the Answerer needs it (rag's Retriever satisfies it)."""

    async def search(
        self,
        text: str,
        *,
        audience: Audience,
        images: Sequence[bytes] = (),
        limit: int | None = None,
    ) -> list[PageHit]:
        """Pages for ``text`` (text, BM25 and CLIP-text legs) and ``images`` (CLIP leg)."""
        ...


class PageImages(Protocol):
    """Rendered pages, optionally with passages highlighted."""

    async def page_png(
        self, document_id: str, page_number: int, bboxes: Sequence[BBox] = ()
    ) -> bytes | None:
        """The page as PNG with ``bboxes`` highlighted, or None if it is not available."""
        ...


class Answerer:
    """Answers questions from the indexed documents, with verified citations."""

    def __init__(
        self,
        *,
        searcher: Searcher,
        pages: PageImages,
        model: VisionModel | None,
        config: LlmConfig,
        top_k: int = 8,
        min_score: float = 0.0,
    ) -> None:
        self._searcher = searcher
        self._pages = pages
        self._model = model
        self._config = config
        self._top_k = top_k
        self._min_score = min_score

    async def answer(
        self,
        question: str,
        *,
        audience: Audience,
        images: Sequence[QueryImage] = (),
        history: Sequence[Turn] = (),
        pages: PageImages | None = None,
        thread: Sequence[ThreadMessage] = (),
        attached: Sequence[PageHit] = (),
        progress: Progress = SILENT,
        documents: int | None = None,
    ) -> Answer:
        """Answer ``question`` as asked in ``audience``; raises ModelError if the model fails.

        ``pages`` renders the page images the model reads (default: the Answerer's own);
        pass the same ``PageBatch`` that renders the cited pages, so none is rendered twice.
        ``thread``: the conversation's earlier messages, context quoted as untrusted text
        (its newest ``THREAD_MESSAGES``, at most ``THREAD_CHARS``); its words also help
        the search find what the question refers to. ``attached``: pages of documents sent
        with the question, which take turns with the index's pages, first. ``progress``
        hears each step and, when it ``streams``, the model's checked text; ``documents``
        (how many the search covers) makes its search step "searching 12 documents".
        """
        thread = recent_thread(thread)
        answer = await self._answer(
            question, audience, images, history, pages, thread, tuple(attached), progress, documents
        )
        return dataclasses.replace(answer, thread_messages=len(thread))

    async def _answer(
        self,
        question: str,
        audience: Audience,
        images: Sequence[QueryImage],
        history: Sequence[Turn],
        pages: PageImages | None,
        thread: Sequence[ThreadMessage],
        attached: tuple[PageHit, ...],
        progress: Progress,
        documents: int | None,
    ) -> Answer:
        started = time.perf_counter()
        query, standalone = await self._standalone(question, history)
        if images and self._model is not None:
            await progress.step(
                "describing your picture" if len(images) == 1 else "describing your pictures"
            )
        descriptions = await self._describe(images, query)
        search_text = "\n".join([_with_thread_terms(query, thread), *descriptions]).strip()
        if not search_text and not images:
            return _nothing_found(question, standalone, ())
        await progress.step(searching(documents))
        hits = await self._searcher.search(
            search_text,
            audience=audience,
            images=[image.data for image in images],
            limit=self._top_k,
        )
        if attached:
            hits = interleave([attached, hits])
        sources = tuple(hit for hit in hits if hit.score >= self._min_score)[: self._top_k]
        if sources:
            await progress.step(reading(sources))
        if not sources:
            answer = _nothing_found(question, standalone, sources)
        elif self._model is None:
            checked = extractive(search_text, sources)
            answer = Answer(
                question, checked.text, "extractive", checked.citations, standalone, sources
            )
        else:
            pages = pages or self._pages
            answer = await self._ask_model(
                question, standalone, query, descriptions, sources, pages, thread, progress
            )
        logger.info(
            "answered team=%s channel=%s mode=%s sources=%d citations=%d in %.2fs",
            audience.team_id,
            audience.channel_id,
            answer.mode,
            len(sources),
            len(answer.citations),
            time.perf_counter() - started,
        )
        return answer

    async def _standalone(self, question: str, history: Sequence[Turn]) -> tuple[str, str | None]:
        """(the query to search with, the standalone question if the model wrote one)."""
        if not history:
            return question, None
        if self._model is not None:
            rewritten = await self._model.rewrite_question(question, history)
            return rewritten, rewritten
        # No model: append the previous question's words this one lacks, so a follow-up
        # like "and the year before?" still searches the same subject. Appended, not
        # prepended, because CLIP reads only the first 77 tokens.
        present = set(key_terms(question))
        extra = [t for t in key_terms(history[-1].question) if t not in present]
        query = f"{question} {' '.join(extra[:_HEURISTIC_TERMS])}".strip()
        return query, None

    async def _describe(self, images: Sequence[QueryImage], query: str) -> list[str]:
        """Descriptions of the attached pictures; none without a model (CLIP-only)."""
        if self._model is None or not images:
            return []
        model = self._model
        described = await asyncio.gather(*(model.describe_image(i.data, query) for i in images))
        return [d.strip() for d in described if d.strip()]

    async def _ask_model(
        self,
        question: str,
        standalone: str | None,
        query: str,
        descriptions: Sequence[str],
        sources: tuple[PageHit, ...],
        pages: PageImages,
        thread: Sequence[ThreadMessage],
        progress: Progress,
    ) -> Answer:
        assert self._model is not None
        shown = sources[: self._config.answer_page_images]
        pngs = await asyncio.gather(
            *(pages.page_png(h.document_id, h.page_number, h.bboxes) for h in shown)
        )
        images = [*pngs, *[None] * (len(sources) - len(pngs))]
        texts = [
            SourceText(n, hit.file_name, hit.page_number, _source_text(hit), image=png)
            for n, (hit, png) in enumerate(zip(sources, images, strict=True), start=1)
        ]
        prompt = query
        for description in descriptions:
            prompt += f"\n\n(The user attached a picture. Its description: {description})"
        if progress.streams:
            pieces = self._model.answer_stream(prompt, texts, thread)
            raw = (await _stream_into(pieces, AnswerStream(len(sources)), progress)).strip()
        else:
            raw = (await self._model.answer(prompt, texts, thread)).strip()
        found = _NOT_FOUND_PREFIX.match(raw)
        if not raw or found:
            sentence = strip_citations(raw[found.end() :]) if found else ""
            return _nothing_found(question, standalone, sources, sentence)
        checked = check_citations(raw, sources)
        return Answer(question, checked.text, "model", checked.citations, standalone, sources)


def recent_thread(thread: Sequence[ThreadMessage]) -> tuple[ThreadMessage, ...]:
    """The newest messages of a conversation within ``THREAD_MESSAGES`` and ``THREAD_CHARS``,
    oldest first; a message too long for what is left is cut, and older ones dropped."""
    kept: list[ThreadMessage] = []
    left = THREAD_CHARS
    for message in reversed(thread[-THREAD_MESSAGES:]):
        text = " ".join(message.text.split())
        if not text:
            continue
        if len(text) > left:
            if left >= 200:  # a cut message still says something; a sliver does not
                kept.append(ThreadMessage(message.author, text[: left - 1] + "…"))
            break
        kept.append(ThreadMessage(message.author, text))
        left -= len(text)
    return tuple(reversed(kept))


def _with_thread_terms(query: str, thread: Sequence[ThreadMessage]) -> str:
    """The query, then the newest thread words it lacks (appended: CLIP reads 77 tokens)."""
    if not thread:
        return query
    present = set(key_terms(query))
    extra: list[str] = []
    for message in reversed(thread):
        extra += [t for t in key_terms(message.text) if t not in present and t not in extra]
    return f"{query} {' '.join(extra[:_HEURISTIC_TERMS])}".strip()


async def _stream_into(
    pieces: AsyncGenerator[str, None], stream: AnswerStream, progress: Progress
) -> str:
    """Pass the model's pieces through ``stream`` to ``progress``; the whole raw text."""
    async with aclosing(pieces):
        async for piece in pieces:
            if text := stream.feed(piece):
                await progress.text(text)
    if text := stream.finish():
        await progress.text(text)
    return stream.raw


def _nothing_found(
    question: str, standalone: str | None, sources: tuple[PageHit, ...], sentence: str = ""
) -> Answer:
    """The plain "not in the documents" answer; the model's sentence keeps its language."""
    return Answer(question, sentence or NOTHING_FOUND, "nothing_found", (), standalone, sources)


def _source_text(hit: PageHit) -> str:
    """The page's retrieved texts, best passage first, capped for the prompt."""
    texts = dict.fromkeys([hit.passage, *(h.text for h in hit.hits)])
    joined = "\n…\n".join(t.strip() for t in texts if t.strip())
    return joined if len(joined) <= _SOURCE_CHARS else joined[:_SOURCE_CHARS].rstrip() + "…"
