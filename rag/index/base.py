"""The VectorIndex protocol and the values that cross it: points, payloads and hybrid queries.

One Qdrant collection (or Edge shard) holds every point, with named vectors: ``clip``
(dense, CLIP space), ``text`` (dense, text-model space), ``bm25`` (sparse, IDF modifier:
the passage's whole text), ``bm25_head`` (sparse, IDF: its head field alone, the
document's name, heading path and a table's title and header row) and ``tokens`` (the
text model's token vectors, a float16 multivector compared by MaxSim). A point carries
any subset of them: a scanned page has only ``clip``. A store made before ``bm25_head``
and ``tokens`` existed is used as it is, without those two, until ``folio reindex --all``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol, cast

from rag.errors import ConfigError
from rag.types import Audience, BBox, Hit, PointKind, SparseVector

CLIP: Final = "clip"
TEXT: Final = "text"
BM25: Final = "bm25"
BM25_HEAD: Final = "bm25_head"
TOKENS: Final = "tokens"
# Vectors a store made by an older folio may lack: queries and writes leave them out there.
OPTIONAL_VECTORS: frozenset[str] = frozenset({BM25_HEAD, TOKENS})
# ``visible_in`` restates channel_private as a keyword: PUBLIC for a public channel's
# points, else the private channel's id. The permission filter matches on it because
# qdrant-edge-py 0.9.0 turns MatchValue(False) into the integer 0, which never equals a
# stored boolean, so a filter on channel_private would hide every public document.
PUBLIC = "*public*"
# Keyword payload indexes: the permission filter and deletes select on these.
KEYWORD_FIELDS = ("team_id", "channel_id", "document_id", "visible_in", "kind")
UPSERT_BATCH = 256

LegName = Literal["clip", "text", "bm25", "bm25_head"]
_KINDS: frozenset[str] = frozenset({"chunk", "page", "figure", "document"})
# What a page search reads: every kind but the one point per document ("document"),
# which stands for the whole document (its name and opening) in the document stage.
PAGE_KINDS: tuple[PointKind, ...] = ("chunk", "page", "figure")
DOCUMENT_KINDS: tuple[PointKind, ...] = ("document",)


@dataclass(frozen=True)
class PointPayload:
    """What every point stores besides its vectors; enough to build a Hit and to filter."""

    team_id: str
    channel_id: str
    channel_private: bool
    document_id: str
    file_name: str
    page_number: int
    kind: PointKind
    text: str
    bboxes: tuple[BBox, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON payload as stored in Qdrant (bboxes as ``[[x0, y0, x1, y1], ...]``)."""
        return {
            "team_id": self.team_id,
            "channel_id": self.channel_id,
            "channel_private": self.channel_private,
            "document_id": self.document_id,
            "file_name": self.file_name,
            "page_number": self.page_number,
            "kind": self.kind,
            "text": self.text,
            "bboxes": [box.as_list() for box in self.bboxes],
            "visible_in": self.channel_id if self.channel_private else PUBLIC,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PointPayload:
        """Inverse of ``to_dict``; raises ValueError on a payload folio did not write."""
        kind = str(data["kind"])
        if kind not in _KINDS:
            raise ValueError(f"unknown point kind {kind!r}")
        return cls(
            team_id=str(data["team_id"]),
            channel_id=str(data["channel_id"]),
            channel_private=bool(data["channel_private"]),
            document_id=str(data["document_id"]),
            file_name=str(data["file_name"]),
            page_number=int(data["page_number"]),
            kind=cast(PointKind, kind),
            text=str(data.get("text") or ""),
            bboxes=tuple(BBox.from_list(box) for box in data.get("bboxes") or ()),
        )


@dataclass(frozen=True)
class IndexPoint:
    """One point to upsert: a UUID string id, its payload and any subset of the vectors.

    ``tokens`` is one row per token (each of the text vector's size).
    """

    id: str
    payload: PointPayload
    clip: Sequence[float] | None = None
    text: Sequence[float] | None = None
    bm25: SparseVector | None = None
    bm25_head: SparseVector | None = None
    tokens: Sequence[Sequence[float]] | None = None

    def check(self, dims: VectorDims) -> None:
        """Raise ValueError when the point has no vector or a vector of the wrong size."""
        if self.clip is None and self.text is None and not _has_terms(self.bm25):
            raise ValueError(f"point {self.id} has no vector")
        for name, vector, size in ((CLIP, self.clip, dims.clip), (TEXT, self.text, dims.text)):
            if vector is not None and len(vector) != size:
                raise ValueError(
                    f"point {self.id}: {name} has {len(vector)} dims, index has {size}"
                )
        for name, sparse in ((BM25, self.bm25), (BM25_HEAD, self.bm25_head)):
            if sparse is not None and len(sparse.indices) != len(sparse.values):
                raise ValueError(f"point {self.id}: {name} indices and values differ in length")
        if self.tokens is not None and any(len(row) != dims.text for row in self.tokens):
            raise ValueError(f"point {self.id}: a token vector is not {dims.text} dims")


@dataclass(frozen=True)
class VectorDims:
    """Sizes of the two dense vectors, fixed by the CLIP and text models."""

    clip: int
    text: int


@dataclass(frozen=True)
class Leg:
    """One prefetch of a hybrid query: a vector searched on one named vector, with its weight.

    A ``bm25`` leg with ``head_weight`` > 0 scores ``bm25 + head_weight * bm25_head`` (the
    same query terms searched in the whole text and in the head field: BM25 field weights).
    """

    using: LegName
    vector: tuple[float, ...] | SparseVector
    weight: float
    head_weight: float = 0.0


@dataclass(frozen=True)
class HybridQuery:
    """A filtered hybrid search: one prefetch per vector, fused by weighted RRF.

    Weights follow Qdrant's weighted RRF, the same on Edge, server and local mode: a point
    at 0-based position ``p`` of a leg with weight ``w`` scores ``1 / (k + p / w)``. Every
    leg's top point scores ``1/k`` whatever its weight; a higher weight makes the leg's
    later positions count more (its ranking is stretched), a lower one less. A leg with
    weight 0 is not run at all. Only points of one of ``kinds`` are searched: pages by
    default, the documents' own points for the document stage.

    ``bm25_head_weight`` weighs the head field within the BM25 leg (see ``Leg``). With
    ``tokens`` (the question's token vectors) and ``token_weight`` > 0, the top
    ``rerank_limit`` fused points are scored again by MaxSim over their token vectors (late
    interaction). ``token_fusion`` "score" adds ``token_weight`` times that MaxSim per
    question token (0 to 1) to the fused score; "rank" fuses the two rankings by RRF at
    weights 1 and ``token_weight``. Points without token vectors keep their fused score.
    """

    audience: Audience
    clip: tuple[tuple[float, ...], ...] = ()
    text: tuple[float, ...] | None = None
    bm25: SparseVector | None = None
    limit: int = 40
    prefetch_limit: int = 50
    rrf_k: int = 60
    clip_weight: float = 1.0
    text_weight: float = 1.0
    bm25_weight: float = 1.0
    bm25_head_weight: float = 0.0
    tokens: tuple[tuple[float, ...], ...] = ()
    token_weight: float = 0.0
    token_fusion: Literal["rank", "score"] = "score"
    rerank_limit: int = 100
    kinds: tuple[PointKind, ...] = PAGE_KINDS
    _legs: tuple[Leg, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if min(self.limit, self.prefetch_limit, self.rrf_k, self.rerank_limit) < 1:
            raise ValueError("limit, prefetch_limit, rrf_k and rerank_limit must be at least 1")
        weights = (
            self.clip_weight,
            self.text_weight,
            self.bm25_weight,
            self.bm25_head_weight,
            self.token_weight,
        )
        if any(w < 0 or not math.isfinite(w) for w in weights):
            raise ValueError("weights must be finite and non-negative")
        if not self.kinds or not set(self.kinds) <= _KINDS:
            raise ValueError(f"kinds must be some of {sorted(_KINDS)}")
        object.__setattr__(self, "_legs", self._build_legs())

    def _build_legs(self) -> tuple[Leg, ...]:
        # as_floats: callers may hand numpy arrays despite the annotation.
        legs = [
            Leg(CLIP, tuple(as_floats(vector)), self.clip_weight)
            for vector in self.clip
            if len(vector)
        ]
        if self.text is not None and len(self.text):
            legs.append(Leg(TEXT, tuple(as_floats(self.text)), self.text_weight))
        if self.bm25 is not None and _has_terms(self.bm25):
            legs.append(Leg(BM25, self.bm25, self.bm25_weight, self.bm25_head_weight))
        return tuple(leg for leg in legs if leg.weight > 0)

    def rerank_tokens(self) -> list[list[float]] | None:
        """The question's token vectors when late interaction is on, else None."""
        if self.token_weight <= 0 or not self.tokens or not self._legs:
            return None
        return as_rows(self.tokens)

    def legs(self) -> tuple[Leg, ...]:
        """The prefetches to run, in order; legs without a vector or weight are left out."""
        return self._legs

    def weights(self) -> list[float]:
        """RRF weights, one per leg, in the order of ``legs()``."""
        return [leg.weight for leg in self._legs]

    def check(self, dims: VectorDims) -> None:
        """Raise ValueError when a query vector does not fit the index."""
        for leg in self._legs:
            size = dims.clip if leg.using == CLIP else dims.text
            if isinstance(leg.vector, tuple) and len(leg.vector) != size:
                raise ValueError(f"{leg.using} query has {len(leg.vector)} dims, index has {size}")
        if any(len(row) != dims.text for row in self.tokens):
            raise ValueError(f"a token query vector is not {dims.text} dims")


class VectorIndex(Protocol):
    """Where points live and how they are searched; Edge in-process or a Qdrant server."""

    async def open(self, dims: VectorDims) -> None:
        """Create the collection if missing; fail clearly if it exists with other dims."""
        ...

    async def upsert(self, points: Sequence[IndexPoint]) -> None:
        """Insert or replace points (batched internally); durable when it returns."""
        ...

    async def query(self, query: HybridQuery) -> list[Hit]:
        """Points the audience may see, fused by RRF, best first."""
        ...

    async def set_channel_visibility(self, team_id: str, channel_id: str, private: bool) -> None:
        """Make every point of one channel's documents private to it, or public again."""
        ...

    async def delete_document(self, document_id: str) -> None:
        """Remove every point of one document."""
        ...

    async def compact(self) -> None:
        """Rewrite storage so deleted points (their text too) are gone from disk."""
        ...

    async def count(self, *, document_id: str | None = None, team_id: str | None = None) -> int:
        """Exact number of points, optionally of one document and/or one team."""
        ...

    async def close(self) -> None:
        """Release the store; safe to call twice."""
        ...

    async def drop(self) -> None:
        """Delete the whole store (collection or shard folder) and close; for old generations."""
        ...


def hit_from_payload(point_id: str, score: float, payload: Mapping[str, Any] | None) -> Hit:
    """Build a Hit from a stored payload."""
    data = PointPayload.from_dict(payload or {})
    return Hit(
        point_id=point_id,
        document_id=data.document_id,
        file_name=data.file_name,
        page_number=data.page_number,
        kind=data.kind,
        score=score,
        text=data.text,
        bboxes=data.bboxes,
        channel_id=data.channel_id,
    )


def dims_mismatch(
    where: str, wanted: VectorDims, found: VectorDims | None, *, detail: str | None = None
) -> ConfigError:
    """The error for an index built with other models than the ones configured now."""
    built = f" for clip={found.clip}/text={found.text} dimensions" if found else ""
    return ConfigError(
        f"The vector index in {where} was built{built} with other models than the configured "
        f"ones (clip={wanted.clip}/text={wanted.text} dimensions): the models changed. "
        "Run `folio reindex` to rebuild it from the stored files, or configure the "
        "previous models again.",
        detail=detail,
    )


def as_floats(vector: Sequence[float]) -> list[float]:
    """A plain list of floats for the engine; cheap for lists and numpy arrays."""
    if isinstance(vector, list):
        return vector
    if isinstance(vector, tuple):
        return list(vector)
    tolist = getattr(vector, "tolist", None)  # numpy: one C call, not a float() per item
    if callable(tolist):
        return cast(list[float], tolist())
    return [float(v) for v in vector]


def as_rows(rows: Sequence[Sequence[float]]) -> list[list[float]]:
    """A multivector as plain lists of floats; one C call for a numpy matrix."""
    tolist = getattr(rows, "tolist", None)
    if callable(tolist):
        return cast(list[list[float]], tolist())
    return [as_floats(row) for row in rows]


def _has_terms(vector: SparseVector | None) -> bool:
    return vector is not None and len(vector.indices) > 0
