"""Hand-made points and vectors for the vector index tests."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from rag.index import IndexPoint, PointPayload, VectorDims
from rag.types import BBox, PointKind, SparseVector

DIMS = VectorDims(clip=8, text=6)


def unit(size: int, *hot: tuple[int, float]) -> tuple[float, ...]:
    """A hand-made dense vector: zeros except the given (position, value) pairs."""
    values = [0.0] * size
    for position, value in hot:
        values[position] = value
    return tuple(values)


def clip_vec(*hot: tuple[int, float]) -> tuple[float, ...]:
    """A CLIP-sized vector."""
    return unit(DIMS.clip, *hot)


def text_vec(*hot: tuple[int, float]) -> tuple[float, ...]:
    """A text-sized vector."""
    return unit(DIMS.text, *hot)


def sparse(**terms: float) -> SparseVector:
    """A sparse vector from t<index>=weight pairs, e.g. sparse(t3=1.0)."""
    items = sorted((int(name[1:]), weight) for name, weight in terms.items())
    return SparseVector(tuple(i for i, _ in items), tuple(w for _, w in items))


def payload(
    document_id: str = "doc-a",
    *,
    team_id: str = "T1",
    channel_id: str = "C1",
    private: bool = False,
    page_number: int = 1,
    kind: PointKind = "chunk",
    text: str = "",
    bboxes: Sequence[BBox] = (),
) -> PointPayload:
    """A payload with test defaults."""
    return PointPayload(
        team_id=team_id,
        channel_id=channel_id,
        channel_private=private,
        document_id=document_id,
        file_name=f"{document_id}.pdf",
        page_number=page_number,
        kind=kind,
        text=text or f"{document_id} page {page_number}",
        bboxes=tuple(bboxes),
    )


def point(
    data: PointPayload,
    *,
    clip: Sequence[float] | None = None,
    text: Sequence[float] | None = None,
    bm25: SparseVector | None = None,
    bm25_head: SparseVector | None = None,
    tokens: Sequence[Sequence[float]] | None = None,
) -> IndexPoint:
    """A point with a fresh UUID."""
    return IndexPoint(
        id=str(uuid.uuid4()),
        payload=data,
        clip=clip,
        text=text,
        bm25=bm25,
        bm25_head=bm25_head,
        tokens=tokens,
    )
