"""Documents attached to one question (a PDF sent in a DM): read for that question only.

The file is parsed in a child process like any shared file, its passages are embedded and
ranked against the question in memory, and its pages are drawn from the bytes in hand.
Nothing is stored: no row, no vector, no file on disk; the next question does not see it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from rag.answer._retrieve import group_by_page
from rag.embed import TextEmbedder
from rag.ingest._chunk import chunk_document
from rag.ingest._parse import content_hash, parse_document
from rag.settings import ParseLimits
from rag.types import Chunk, Document, Hit, PageHit, QueryImage, Scope

logger = logging.getLogger(__name__)

ATTACHED_PREFIX = "attached-"


@dataclass(frozen=True, slots=True)
class Attachment:
    """One attached file as read: a Document that is in no store, its bytes and passages."""

    document: Document
    data: bytes
    chunks: tuple[Chunk, ...]
    vectors: np.ndarray


class Attachments:
    """Reads attached documents and finds their pages for a question."""

    def __init__(self, *, text: TextEmbedder, limits: ParseLimits) -> None:
        self._text = text
        self._limits = limits

    async def read(self, file: QueryImage, scope: Scope) -> Attachment:
        """Parse and embed one attached file; a DocumentError says why it cannot be read."""
        parsed = await parse_document(file.data, file.name, self._limits)
        chunks = tuple(chunk_document(parsed))
        vectors = await self._text.aembed([chunk.text for chunk in chunks]) if chunks else None
        digest = content_hash(file.data)
        document = Document(
            id=ATTACHED_PREFIX + hashlib.sha256(f"{scope}:{digest}".encode()).hexdigest()[:32],
            scope=scope,
            file_name=file.name,
            content_hash=digest,
            kind=parsed.kind,
            page_count=len(parsed.pages),
            figure_count=parsed.figure_count,
            created_at=datetime.now(UTC),
        )
        logger.info(
            "read attached %s: %d pages, %d passages", document.id, len(parsed.pages), len(chunks)
        )
        if vectors is None:
            vectors = np.zeros((0, 0), dtype=np.float32)
        return Attachment(document, parsed.rendition or file.data, chunks, vectors)

    async def search(
        self, attachments: Sequence[Attachment], text: str, limit: int
    ) -> list[PageHit]:
        """The pages of ``attachments`` closest to ``text`` (cosine of text-model vectors)."""
        if not text.strip() or not any(a.chunks for a in attachments):
            return []
        query = (await self._text.aembed([text]))[0]
        hits: list[Hit] = []
        for attachment in attachments:
            if not attachment.chunks:
                continue
            scores = attachment.vectors @ query
            for chunk, score in zip(attachment.chunks, scores.tolist(), strict=True):
                hits.append(_hit(attachment.document, chunk, float(score)))
        return group_by_page(hits)[:limit]


def _hit(document: Document, chunk: Chunk, score: float) -> Hit:
    return Hit(
        point_id=f"{document.id}:{chunk.page_number}:{chunk.index}",
        document_id=document.id,
        file_name=document.file_name,
        page_number=chunk.page_number,
        kind="chunk",
        score=score,
        text=chunk.text,
        bboxes=chunk.bboxes,
    )
