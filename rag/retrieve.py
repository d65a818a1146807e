"""Hybrid retrieval: CLIP, text-model and BM25 legs fused by RRF, grouped by page."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

from rag.embed import Bm25Encoder, ClipEmbedder, TextEmbedder
from rag.index import HybridQuery, VectorIndex
from rag.settings import RetrievalConfig
from rag.types import Audience, Hit, PageHit

logger = logging.getLogger(__name__)

# Several points can land on one page (chunks, the page render, figures); fetch
# enough fused hits that `limit` distinct pages survive the grouping.
_HITS_PER_PAGE = 4


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

    async def search(
        self,
        text: str,
        *,
        audience: Audience,
        images: Sequence[bytes] = (),
        limit: int | None = None,
    ) -> list[PageHit]:
        """Ranked pages for ``text`` (text, BM25 and CLIP-text legs) and ``images`` (CLIP leg)."""
        started = time.perf_counter()
        limit = limit or self._config.top_k
        query = await self._query(text, images, audience, limit)
        hits = await self._index.query(query)
        pages = group_by_page(hits)[:limit]
        logger.info(
            "search team=%s channel=%s images=%d pages=%d in %.0f ms",
            audience.team_id,
            audience.channel_id,
            len(images),
            len(pages),
            (time.perf_counter() - started) * 1000,
        )
        return pages

    async def _query(
        self, text: str, images: Sequence[bytes], audience: Audience, limit: int
    ) -> HybridQuery:
        text = text.strip()
        clip_vectors: list[tuple[float, ...]] = []
        text_vector: tuple[float, ...] | None = None
        sparse = None
        if text:
            clip_vectors.extend(_rows(await self._clip.aembed_texts([text])))
            text_vector = _rows(await self._text.aembed([text]))[0]
            encoded = self._bm25.encode_query(text)
            sparse = encoded if encoded.indices else None
        if images:
            clip_vectors.extend(_rows(await self._clip.aembed_images(list(images))))
        config = self._config
        return HybridQuery(
            audience=audience,
            clip=tuple(clip_vectors),
            text=text_vector,
            bm25=sparse,
            limit=limit * _HITS_PER_PAGE,
            prefetch_limit=max(config.prefetch_limit, limit * _HITS_PER_PAGE),
            rrf_k=config.rrf_k,
            clip_weight=config.clip_weight,
            text_weight=config.text_weight,
            bm25_weight=config.bm25_weight,
        )


def group_by_page(hits: Iterable[Hit]) -> list[PageHit]:
    """Fold fused hits into pages, keeping each page's best score and its hits best first."""
    grouped: dict[tuple[str, int], list[Hit]] = {}
    for hit in hits:
        grouped.setdefault((hit.document_id, hit.page_number), []).append(hit)
    pages = []
    for (document_id, page_number), page_hits in grouped.items():
        page_hits.sort(key=lambda h: h.score, reverse=True)
        pages.append(
            PageHit(
                document_id=document_id,
                file_name=page_hits[0].file_name,
                page_number=page_number,
                score=page_hits[0].score,
                hits=tuple(page_hits),
            )
        )
    pages.sort(key=lambda p: p.score, reverse=True)
    return pages


def _rows(matrix: NDArray[np.float32]) -> list[tuple[float, ...]]:
    return [tuple(row) for row in matrix.tolist()]
