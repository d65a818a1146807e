"""Ingestor: one file -> parsed, embedded, indexed and recorded, idempotently."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from rag.db import Catalog
from rag.embed import Bm25Encoder, ClipEmbedder, TextEmbedder
from rag.errors import DocumentNotFound
from rag.index import IndexPoint, PointPayload, VectorIndex
from rag.ingest._captions import Captioner
from rag.ingest._chunk import chunk_document, document_header
from rag.ingest._parse import content_hash, parse_document
from rag.settings import ParseLimits
from rag.types import (
    BBox,
    Document,
    IngestResult,
    PageInfo,
    ParsedDocument,
    PointKind,
    Scope,
    SparseVector,
)

logger = logging.getLogger(__name__)

_NAMESPACE = uuid.UUID("7d1c1f0e-5a0b-4b8e-9a57-0f0c6f1e2a11")
# The page text carried by a visual point (its caption when there is none better);
# the text model reads ~256 tokens, BM25 gets the whole page.
_VISUAL_TEXT_CHARS = 4000

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class _Visual:
    """A page render or a figure waiting to be embedded."""

    page_number: int
    kind: PointKind
    key: str
    png: bytes
    bboxes: tuple[BBox, ...]
    context: str


class Ingestor:
    """Parses, embeds, indexes and records documents; the same bytes twice is a no-op."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        index: VectorIndex,
        clip: ClipEmbedder,
        text: TextEmbedder,
        bm25: Bm25Encoder,
        limits: ParseLimits,
        captioner: Captioner | None = None,
    ) -> None:
        self._catalog = catalog
        self._index = index
        self._clip = clip
        self._text = text
        self._bm25 = bm25
        self._limits = limits
        self._captioner = captioner

    async def ingest(
        self,
        data: bytes,
        *,
        file_name: str,
        scope: Scope,
        slack_file_id: str | None = None,
        uploader_id: str | None = None,
        permalink: str | None = None,
        progress: Progress | None = None,
    ) -> IngestResult:
        """Index ``data`` for ``scope``; a FolioError leaves the index and database unchanged."""
        started = time.perf_counter()
        digest = content_hash(data)
        existing = await self._catalog.find_by_hash(scope, digest)
        if existing is not None:
            logger.info("ingest skipped document=%s (same bytes already indexed)", existing.id)
            return IngestResult(document=existing, created=False)
        _say(progress, f"reading {file_name}")
        parsed = await parse_document(data, file_name, self._limits)
        document = Document(
            id=document_id(scope, digest),
            scope=scope,
            file_name=file_name,
            content_hash=digest,
            kind=parsed.kind,
            page_count=len(parsed.pages),
            figure_count=parsed.figure_count,
            created_at=datetime.now(UTC),
            slack_file_id=slack_file_id,
            uploader_id=uploader_id,
            permalink=permalink,
        )
        _say(progress, f"embedding {len(parsed.pages)} pages")
        points = await self._points(document, parsed)
        await self._store(document, parsed, points, data)
        logger.info(
            "ingested document=%s team=%s channel=%s pages=%d figures=%d points=%d in %.1f s",
            document.id,
            scope.team_id,
            scope.channel_id,
            document.page_count,
            document.figure_count,
            len(points),
            time.perf_counter() - started,
        )
        return IngestResult(document=document, created=True)

    async def reindex(self, document: Document) -> int:
        """Rebuild a recorded document's points in this ingestor's index from its stored file.

        For ``folio reindex``: the catalog's rows stay as they are; the points are replaced
        and the document is marked complete in the catalog's generation. Returns the count.
        """
        data = await self._catalog.data(document.id)
        parsed = await parse_document(data, document.file_name, self._limits)
        # Office and text files are stored as the PDF they were read from: keep their kind.
        parsed = dataclasses.replace(parsed, kind=document.kind)
        points = await self._points(document, parsed)
        await self._index.delete_document(document.id)
        await self._index.upsert(points)
        await self._catalog.mark_indexed(document.id)
        return len(points)

    async def forget(self, document_id: str) -> None:
        """Remove every point and row of a document."""
        await self._index.delete_document(document_id)
        if not await self._catalog.delete(document_id):
            raise DocumentNotFound()

    async def _store(
        self, document: Document, parsed: ParsedDocument, points: list[IndexPoint], data: bytes
    ) -> None:
        pages = [
            PageInfo(p.number, p.width, p.height, p.text, len(p.figures)) for p in parsed.pages
        ]
        # Leftovers of an attempt that crashed mid-way share these ids; clear them first.
        await self._index.delete_document(document.id)
        try:
            await self._index.upsert(points)
            # Office and text files keep the PDF their pages were read from: it renders the
            # cited pages for answers without converting again.
            await self._catalog.add(document, pages, parsed.rendition or data, len(data))
        except BaseException:
            await asyncio.shield(self._index.delete_document(document.id))
            raise

    async def _points(self, document: Document, parsed: ParsedDocument) -> list[IndexPoint]:
        header = document_header(document.file_name, parsed)
        chunks = chunk_document(parsed)
        visuals = _visuals(parsed)
        captions = await self._captions(visuals)
        texts = [c.text for c in chunks] + [
            caption or v.context for caption, v in zip(captions, visuals, strict=True)
        ]
        # The header ties every passage to its document ("which company, which quarter");
        # figures share their page's text, so each distinct text is embedded once.
        indexed = [f"{header}\n{text}" if text else "" for text in texts]
        # Sorted by length, so each batch pads little.
        distinct = sorted({t for t in indexed if t}, key=lambda t: (len(t), t))
        vectors: list[list[float]] = (await self._text.aembed(distinct)).tolist()
        by_text = dict(zip(distinct, vectors, strict=True))
        clip_vectors = (await self._clip.aembed_images([v.png for v in visuals])).tolist()
        points = []
        for i, chunk in enumerate(chunks):
            payload = _payload(document, chunk.page_number, "chunk", chunk.text, chunk.bboxes)
            key = f"chunk/{chunk.page_number}/{chunk.index}"
            points.append(self._point(document, key, payload, indexed[i], by_text))
        for j, visual in enumerate(visuals):
            text = texts[len(chunks) + j]
            payload = _payload(document, visual.page_number, visual.kind, text, visual.bboxes)
            point = self._point(document, visual.key, payload, indexed[len(chunks) + j], by_text)
            points.append(dataclasses.replace(point, clip=clip_vectors[j]))
        return points

    def _point(
        self,
        document: Document,
        key: str,
        payload: PointPayload,
        indexed: str,
        vectors: dict[str, list[float]],
    ) -> IndexPoint:
        return IndexPoint(
            id=_point_id(document.id, key),
            payload=payload,
            text=vectors.get(indexed),
            bm25=self._sparse(indexed),
        )

    def _sparse(self, text: str) -> SparseVector | None:
        if not text:
            return None
        encoded = self._bm25.encode_document(text)
        return encoded if encoded.indices else None

    async def _captions(self, visuals: Sequence[_Visual]) -> list[str | None]:
        if self._captioner is None or not visuals:
            return [None] * len(visuals)
        return await self._captioner.caption([v.png for v in visuals], [v.context for v in visuals])


def document_id(scope: Scope, digest: str) -> str:
    """The stable id of these bytes in this channel (a resumed job reuses it)."""
    return str(uuid.uuid5(_NAMESPACE, f"{scope.team_id}/{scope.channel_id}/{digest}"))


def _point_id(document_id: str, key: str) -> str:
    return str(uuid.uuid5(uuid.UUID(document_id), key))


def _visuals(parsed: ParsedDocument) -> list[_Visual]:
    visuals = []
    for page in parsed.pages:
        context = page.text[:_VISUAL_TEXT_CHARS]
        visuals.append(
            _Visual(page.number, "page", f"page/{page.number}", page.render_png, (), context)
        )
        for figure in page.figures:
            visuals.append(
                _Visual(
                    page.number,
                    "figure",
                    f"figure/{page.number}/{figure.index}",
                    figure.png,
                    (figure.bbox,),
                    context,
                )
            )
    return visuals


def _payload(
    document: Document, page_number: int, kind: PointKind, text: str, bboxes: tuple[BBox, ...]
) -> PointPayload:
    return PointPayload(
        team_id=document.scope.team_id,
        channel_id=document.scope.channel_id,
        channel_private=document.scope.channel_private,
        document_id=document.id,
        file_name=document.file_name,
        page_number=page_number,
        kind=kind,
        text=text,
        bboxes=bboxes,
    )


def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(message)
