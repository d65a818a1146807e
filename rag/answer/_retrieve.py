"""Hybrid retrieval: CLIP, text-model and BM25 legs fused by RRF, grouped by page.

A worded question first ranks the documents themselves (one point each: the file's
name and opening words) and lets that ranking vote on the pages: a question about one
filing then prefers that filing's pages over a look-alike page of another. With late
interaction on, the index ranks the fused top points again by MaxSim between the
question's and each passage's token vectors and fuses that ranking in.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from rag.embed import Bm25Encoder, ClipEmbedder, TextEmbedder
from rag.index import DOCUMENT_KINDS, HybridQuery, VectorIndex
from rag.settings import RetrievalConfig
from rag.types import Audience, Hit, PageHit, SparseVector

logger = logging.getLogger(__name__)

# Several points can land on one page (chunks, the page render, figures); fetch
# enough fused hits that `limit` distinct pages survive the grouping.
_HITS_PER_PAGE = 4
# A query picture votes for the few pages that look most like it: near-duplicates are
# what image similarity finds well; its long tail would only add noise to the words' ranking.
_PICTURE_PAGES = 3
# How many documents the document stage ranks, and how many fused hits the pages are
# then drawn from: enough that a likely document's pages further down can move up.
_DOCUMENTS = 10
_CANDIDATE_HITS = 100


@dataclass(frozen=True, slots=True)
class _Legs:
    """The query vectors of one hybrid query."""

    clip: list[tuple[float, ...]]
    text: tuple[float, ...] | None = None
    bm25: SparseVector | None = None
    tokens: tuple[tuple[float, ...], ...] = ()


class Retriever:
    """Turns a question and pictures into ranked pages the audience may see."""

    def __init__(
        self,
        *,
        index: VectorIndex,
        clip: ClipEmbedder,
        text: TextEmbedder,
        bm25: Bm25Encoder,
        config: RetrievalConfig,
    ) -> None:
        self._index = index
        self._clip = clip
        self._text = text
        self._bm25 = bm25
        self._config = config

    def with_config(self, config: RetrievalConfig) -> Retriever:
        """The same models and index, ranking with another config (ablations, tests)."""
        return Retriever(
            index=self._index, clip=self._clip, text=self._text, bm25=self._bm25, config=config
        )

    async def search(
        self,
        text: str,
        *,
        audience: Audience,
        images: Sequence[bytes] = (),
        limit: int | None = None,
    ) -> list[PageHit]:
        """Ranked pages for ``text`` (text, BM25 and CLIP-text legs) and ``images`` (CLIP leg).

        With both, the words and the pictures are searched separately and the two page
        rankings take turns (words first), so the page that looks most like the picture (a
        scan without text, say) is among the results even when the words miss it.
        """
        started = time.perf_counter()
        limit = limit or self._config.top_k
        text = text.strip()
        rankings = []
        if text:
            legs = await self._text_legs(text)
            documents = await self._documents(legs, audience)
            rankings.append(await self._pages(legs, audience, limit, documents))
        if images:
            pictures = _rows(await self._clip.aembed_images(list(images)))
            looks_like = await self._pages(_Legs(clip=pictures), audience, limit)
            rankings.append(looks_like[:_PICTURE_PAGES] if text else looks_like)
        pages = interleave(rankings, k=self._config.rrf_k)[:limit]
        logger.info(
            "search team=%s channel=%s images=%d pages=%d in %.0f ms",
            audience.team_id,
            audience.channel_id,
            len(images),
            len(pages),
            (time.perf_counter() - started) * 1000,
        )
        return pages

    async def _text_legs(self, text: str) -> _Legs:
        # Side by side: each model runs in its own thread and releases the GIL in its
        # kernels, so the question costs the slower model's time, not the sum.
        clip, (vector, tokens), sparse = await asyncio.gather(
            self._clip.aembed_texts([text]),
            self._text_vectors(text),
            asyncio.to_thread(self._bm25.encode_query, text),
        )
        return _Legs(
            clip=_rows(clip),
            text=_rows(vector)[0],
            bm25=sparse if sparse.indices else None,
            tokens=tuple(_rows(tokens)),
        )

    async def _text_vectors(self, text: str) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """The question's text vector, and its token vectors when late interaction is on."""
        if self._config.token_weight <= 0:
            vector = await self._text.aembed([text])
            return vector, np.zeros((0, vector.shape[1]), dtype=np.float32)
        vector, tokens = await self._text.aembed_with_tokens([text])
        return vector, tokens[0].astype(np.float32)

    async def _documents(self, legs: _Legs, audience: Audience) -> dict[str, int]:
        """Each likely document's 0-based rank by its name and opening (text and BM25)."""
        if self._config.document_weight <= 0 or (legs.text is None and legs.bm25 is None):
            return {}
        query = HybridQuery(
            audience=audience,
            text=legs.text,
            bm25=legs.bm25,
            limit=_DOCUMENTS,
            prefetch_limit=_DOCUMENTS,
            rrf_k=self._config.rrf_k,
            text_weight=self._config.text_weight,
            bm25_weight=self._config.bm25_weight,
            kinds=DOCUMENT_KINDS,
        )
        ranks: dict[str, int] = {}
        for hit in await self._index.query(query):
            ranks.setdefault(hit.document_id, len(ranks))
        return ranks

    async def _pages(
        self, legs: _Legs, audience: Audience, limit: int, documents: dict[str, int] | None = None
    ) -> list[PageHit]:
        config = self._config
        hits = limit * _HITS_PER_PAGE
        if documents:
            hits = max(hits, _CANDIDATE_HITS)
        query = HybridQuery(
            audience=audience,
            clip=tuple(legs.clip),
            text=legs.text,
            bm25=legs.bm25,
            limit=hits,
            prefetch_limit=max(config.prefetch_limit, hits),
            rrf_k=config.rrf_k,
            clip_weight=config.clip_weight,
            text_weight=config.text_weight,
            bm25_weight=config.bm25_weight,
            bm25_head_weight=config.bm25_head_weight,
            tokens=legs.tokens,
            token_weight=config.token_weight,
            token_fusion=config.token_fusion,
            rerank_limit=config.rerank_limit,
        )
        pages = group_by_page(await self._index.query(query), page_fusion=config.page_fusion)
        if documents:
            pages = vote_by_document(
                pages, documents, weight=config.document_weight, k=config.document_k
            )
        return pages


def group_by_page(hits: Iterable[Hit], *, page_fusion: bool = False) -> list[PageHit]:
    """Fold fused hits into pages, keeping each page's best score and its hits best first.

    With ``page_fusion`` a page scores its best passage plus its page vector (the render
    and the page's whole text) when that is not already the best.
    """
    grouped: dict[tuple[str, int], list[Hit]] = {}
    for hit in hits:
        grouped.setdefault((hit.document_id, hit.page_number), []).append(hit)
    pages = []
    for (document_id, page_number), page_hits in grouped.items():
        page_hits.sort(key=lambda h: h.score, reverse=True)
        score = page_hits[0].score
        if page_fusion:
            score += next((h.score for h in page_hits[1:] if h.kind == "page"), 0.0)
        pages.append(
            PageHit(
                document_id=document_id,
                file_name=page_hits[0].file_name,
                page_number=page_number,
                score=score,
                hits=tuple(page_hits),
            )
        )
    pages.sort(key=lambda p: p.score, reverse=True)
    return pages


def vote_by_document(
    pages: Iterable[PageHit], documents: dict[str, int], *, weight: float, k: int = 2
) -> list[PageHit]:
    """Pages re-scored with their document's vote, ``weight / (k + rank)``, best first."""
    voted = [
        replace(page, score=page.score + weight / (k + documents[page.document_id]))
        if page.document_id in documents
        else page
        for page in pages
    ]
    voted.sort(key=lambda p: p.score, reverse=True)
    return voted


def interleave(rankings: Sequence[Sequence[PageHit]], *, k: int = 60) -> list[PageHit]:
    """Merge page rankings by taking turns, first ranking first, skipping pages already taken.

    Each page keeps the hits every ranking found for it (once each); its score becomes
    the reciprocal rank of its merged position.
    """
    if len(rankings) == 1:
        return list(rankings[0])
    found: dict[tuple[str, int], list[Hit]] = {}
    order: list[PageHit] = []
    for turn in range(max((len(r) for r in rankings), default=0)):
        for ranking in rankings:
            if turn < len(ranking):
                page = ranking[turn]
                key = (page.document_id, page.page_number)
                if key not in found:
                    order.append(page)
                found.setdefault(key, []).extend(page.hits)
    merged = []
    for position, page in enumerate(order):
        best: dict[str, Hit] = {}
        for hit in found[(page.document_id, page.page_number)]:
            if hit.point_id not in best or hit.score > best[hit.point_id].score:
                best[hit.point_id] = hit
        hits = sorted(best.values(), key=lambda h: h.score, reverse=True)
        merged.append(replace(page, score=1.0 / (k + position + 1), hits=tuple(hits)))
    return merged


def _rows(matrix: NDArray[np.float32]) -> list[tuple[float, ...]]:
    return [tuple(row) for row in matrix.tolist()]
