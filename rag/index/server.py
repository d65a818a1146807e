"""ServerIndex: a Qdrant server or cluster through qdrant-client's AsyncQdrantClient.

Many folio processes can share one server index. Weighted RRF is sent as ``RrfQuery``
(Qdrant 1.16+); qdrant-client's in-process ``:memory:`` mode implements the same
formula, so the contract tests exercise weights on both engines.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import httpx
from qdrant_client import AsyncQdrantClient, models
from qdrant_client.http.exceptions import ApiException, UnexpectedResponse

from rag.errors import IndexUnavailable
from rag.index.base import (
    BM25,
    BM25_HEAD,
    CLIP,
    KEYWORD_FIELDS,
    OPTIONAL_VECTORS,
    TEXT,
    TOKENS,
    UPSERT_BATCH,
    HybridQuery,
    IndexPoint,
    Leg,
    VectorDims,
    VectorIndex,
    as_floats,
    as_rows,
    dims_mismatch,
    hit_from_payload,
)
from rag.index.filters import (
    AllOf,
    AnyOf,
    Match,
    channel_filter,
    count_filter,
    document_filter,
    query_filter,
    visibility_payload,
)
from rag.types import Hit, SparseVector

logger = logging.getLogger(__name__)

# What qdrant-client raises when the server is down, refuses, or answers an error.
_CLIENT_ERRORS = (ApiException, httpx.HTTPError)
_HTTP_CONFLICT = 409


class ServerIndex(VectorIndex):
    """A VectorIndex over one collection of a Qdrant server; close() also closes the client."""

    def __init__(self, *, client: AsyncQdrantClient, collection: str) -> None:
        self._client = client
        self._collection = collection
        self._dims: VectorDims | None = None
        # The optional vectors this collection has (an older one may lack them).
        self._optional: frozenset[str] = OPTIONAL_VECTORS

    async def open(self, dims: VectorDims) -> None:
        """Create the collection if missing, check its dims, add missing payload indexes."""
        try:
            if not await self._client.collection_exists(self._collection):
                await self._create(dims)
            info = await self._client.get_collection(self._collection)
            self._check_dims(info, dims)
            await self._ensure_keyword_indexes(info)
        except _CLIENT_ERRORS as exc:
            raise self._unavailable("open", exc) from exc
        self._dims = dims
        logger.info("vector index opened: qdrant collection %s", self._collection)

    async def upsert(self, points: Sequence[IndexPoint]) -> None:
        """Upsert in batches, each acknowledged by the server (wait=True)."""
        dims = self._require_dims()
        for point in points:
            point.check(dims)
        for start in range(0, len(points), UPSERT_BATCH):
            chunk = points[start : start + UPSERT_BATCH]
            batch = [_point_struct(point, self._optional) for point in chunk]
            try:
                await self._client.upsert(self._collection, points=batch, wait=True)
            except _CLIENT_ERRORS as exc:
                raise self._unavailable("upsert", exc) from exc

    async def query(self, query: HybridQuery) -> list[Hit]:
        """Permission-filtered prefetch per leg, fused by weighted RRF on the server."""
        query.check(self._require_dims())
        if not query.legs():
            return []
        prefetch, fusion = _server_query(query, self._optional)
        try:
            response = await self._client.query_points(
                self._collection,
                prefetch=prefetch,
                query=fusion,
                # Qdrant pushes the top-level filter down into every prefetch, so each
                # leg's limit counts only points the audience may see.
                query_filter=_filter(query_filter(query.audience, query.kinds)),
                limit=query.limit,
                with_payload=True,
            )
        except _CLIENT_ERRORS as exc:
            raise self._unavailable("query", exc) from exc
        return [hit_from_payload(str(p.id), p.score, p.payload) for p in response.points]

    async def set_channel_visibility(self, team_id: str, channel_id: str, private: bool) -> None:
        """Rewrite the visibility payload of one channel's points and wait for it."""
        try:
            await self._client.set_payload(
                self._collection,
                payload=visibility_payload(channel_id, private),
                points=_filter(channel_filter(team_id, channel_id)),
                wait=True,
            )
        except _CLIENT_ERRORS as exc:
            raise self._unavailable("set payload", exc) from exc

    async def delete_document(self, document_id: str) -> None:
        """Delete every point of the document and wait for it."""
        selector = models.FilterSelector(filter=_filter(document_filter(document_id)))
        try:
            await self._client.delete(self._collection, points_selector=selector, wait=True)
        except _CLIENT_ERRORS as exc:
            raise self._unavailable("delete", exc) from exc

    async def compact(self) -> None:
        """Nothing to do: the Qdrant server vacuums deleted points by itself."""

    async def count(self, *, document_id: str | None = None, team_id: str | None = None) -> int:
        """Exact count, optionally of one document and/or one team."""
        selection = count_filter(document_id=document_id, team_id=team_id)
        try:
            result = await self._client.count(
                self._collection,
                count_filter=_filter(selection) if selection else None,
                exact=True,
            )
        except _CLIENT_ERRORS as exc:
            raise self._unavailable("count", exc) from exc
        return result.count

    async def close(self) -> None:
        """Close the client (this index owns it once given)."""
        self._dims = None
        await self._client.close()

    async def drop(self) -> None:
        """Delete the collection, then close the client."""
        try:
            await self._client.delete_collection(self._collection)
        except _CLIENT_ERRORS as exc:
            raise self._unavailable("drop", exc) from exc
        finally:
            await self.close()
        logger.info("dropped qdrant collection %s", self._collection)

    async def _create(self, dims: VectorDims) -> None:
        try:
            await self._client.create_collection(
                self._collection,
                vectors_config={
                    CLIP: models.VectorParams(size=dims.clip, distance=models.Distance.COSINE),
                    TEXT: models.VectorParams(size=dims.text, distance=models.Distance.COSINE),
                    TOKENS: models.VectorParams(
                        size=dims.text,
                        distance=models.Distance.COSINE,
                        multivector_config=models.MultiVectorConfig(
                            comparator=models.MultiVectorComparator.MAX_SIM
                        ),
                        datatype=models.Datatype.FLOAT16,
                        # Only ever re-ranks prefetched points: no graph to build or hold.
                        hnsw_config=models.HnswConfigDiff(m=0),
                    ),
                },
                sparse_vectors_config={
                    BM25: models.SparseVectorParams(modifier=models.Modifier.IDF),
                    BM25_HEAD: models.SparseVectorParams(modifier=models.Modifier.IDF),
                },
            )
            logger.info("created qdrant collection %s (%s)", self._collection, dims)
        except UnexpectedResponse as exc:
            # Another process created it between our check and our create: use theirs.
            if exc.status_code != _HTTP_CONFLICT:
                raise

    def _check_dims(self, info: models.CollectionInfo, dims: VectorDims) -> None:
        vectors = info.config.params.vectors
        sparse = info.config.params.sparse_vectors or {}
        sizes = (
            {name: params.size for name, params in vectors.items()}
            if isinstance(vectors, dict)
            else {}
        )
        found = VectorDims(clip=sizes.get(CLIP, 0), text=sizes.get(TEXT, 0))
        if found != dims or BM25 not in sparse:
            raise dims_mismatch(f"the Qdrant collection {self._collection!r}", dims, found)
        self._optional = OPTIONAL_VECTORS & {*sizes, *sparse}
        if self._optional != OPTIONAL_VECTORS:
            logger.warning(
                "the qdrant collection %s was made before %s existed; run "
                "`folio reindex --all` to add them",
                self._collection,
                ", ".join(sorted(OPTIONAL_VECTORS - self._optional)),
            )

    async def _ensure_keyword_indexes(self, info: models.CollectionInfo) -> None:
        existing = info.payload_schema or {}
        for name in KEYWORD_FIELDS:
            if name in existing:
                continue
            # team_id partitions the data: let the server co-locate each tenant's points.
            schema = models.KeywordIndexParams(
                type=models.KeywordIndexType.KEYWORD, is_tenant=name == "team_id"
            )
            await self._client.create_payload_index(
                self._collection, field_name=name, field_schema=schema, wait=True
            )

    def _require_dims(self) -> VectorDims:
        if self._dims is None:
            raise IndexUnavailable(detail="the qdrant vector index is not open")
        return self._dims

    def _unavailable(self, action: str, exc: Exception) -> IndexUnavailable:
        logger.warning("qdrant %s on %s failed: %s", action, self._collection, exc)
        return IndexUnavailable(
            "folio cannot reach its Qdrant server right now; please try again shortly.",
            detail=f"qdrant {action} on {self._collection}: {exc}",
        )


def _query_vector(vector: tuple[float, ...] | SparseVector) -> list[float] | models.SparseVector:
    if isinstance(vector, SparseVector):
        return models.SparseVector(indices=list(vector.indices), values=list(vector.values))
    return list(vector)


def _server_query(
    query: HybridQuery, optional: frozenset[str]
) -> tuple[list[models.Prefetch], models.RrfQuery | models.FormulaQuery]:
    """Prefetches and fusion for the query: fused legs, then MaxSim over the top, when asked."""
    legs = query.legs()
    prefetches = [_leg(leg, query.prefetch_limit, BM25_HEAD in optional) for leg in legs]
    fusion = models.RrfQuery(rrf=models.Rrf(k=query.rrf_k, weights=query.weights()))
    tokens = query.rerank_tokens() if TOKENS in optional else None
    if tokens is None:
        return prefetches, fusion
    fused = models.Prefetch(prefetch=prefetches, query=fusion, limit=query.limit)
    top = models.Prefetch(prefetch=prefetches, query=fusion, limit=query.rerank_limit)
    maxsim = models.Prefetch(prefetch=[top], query=tokens, using=TOKENS, limit=query.rerank_limit)
    both: models.RrfQuery | models.FormulaQuery = models.RrfQuery(
        rrf=models.Rrf(k=query.rrf_k, weights=[1.0, query.token_weight])
    )
    if query.token_fusion == "score":
        scale = query.token_weight / len(tokens)
        both = models.FormulaQuery(
            formula=models.SumExpression(
                sum=["$score[0]", models.MultExpression(mult=[scale, "$score[1]"])]
            ),
            defaults={"$score[0]": 0.0, "$score[1]": 0.0},
        )
    return [fused, maxsim], both


def _leg(leg: Leg, limit: int, has_head: bool) -> models.Prefetch:
    vector = _query_vector(leg.vector)
    nearest = models.Prefetch(query=vector, using=leg.using, limit=limit)
    if leg.head_weight <= 0 or not has_head:
        return nearest
    head = models.Prefetch(query=vector, using=BM25_HEAD, limit=limit)
    weighted = models.MultExpression(mult=[leg.head_weight, "$score[1]"])
    # A point found by one of the two searches only scores 0 in the other.
    formula = models.FormulaQuery(
        formula=models.SumExpression(sum=["$score[0]", weighted]),
        defaults={"$score[0]": 0.0, "$score[1]": 0.0},
    )
    return models.Prefetch(prefetch=[nearest, head], query=formula, limit=limit)


def _point_struct(
    point: IndexPoint, optional: frozenset[str] = OPTIONAL_VECTORS
) -> models.PointStruct:
    vectors: dict[str, Any] = {}
    if point.clip is not None:
        vectors[CLIP] = as_floats(point.clip)
    if point.text is not None:
        vectors[TEXT] = as_floats(point.text)
    if point.bm25 is not None and point.bm25.indices:
        vectors[BM25] = _query_vector(point.bm25)
    head = point.bm25_head
    if head is not None and head.indices and BM25_HEAD in optional:
        vectors[BM25_HEAD] = _query_vector(head)
    if point.tokens is not None and len(point.tokens) and TOKENS in optional:
        vectors[TOKENS] = as_rows(point.tokens)
    return models.PointStruct(id=point.id, vector=vectors, payload=point.payload.to_dict())


def _filter(selection: AllOf) -> models.Filter:
    return models.Filter(must=[_condition(condition) for condition in selection.conditions])


def _condition(condition: Match | AnyOf) -> models.FieldCondition | models.Filter:
    if isinstance(condition, Match):
        return models.FieldCondition(
            key=condition.key, match=models.MatchValue(value=condition.value)
        )
    return models.Filter(should=[_condition(inner) for inner in condition.conditions])
