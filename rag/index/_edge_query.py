"""Folio's queries and filters in Qdrant Edge's terms (see rag.index.edge)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import qdrant_edge as qe

from rag.index.base import BM25_HEAD, TOKENS, HybridQuery, Leg
from rag.index.filters import AllOf, AnyOf, Match, query_filter
from rag.types import SparseVector

if TYPE_CHECKING:
    from qdrant_edge import NamedVector


def edge_request(query: HybridQuery, optional: frozenset[str]) -> qe.QueryRequest:
    """The query as one Edge request: fused legs, then MaxSim over the top, when asked."""
    legs = query.legs()
    prefetches = [_edge_leg(leg, query.prefetch_limit, BM25_HEAD in optional) for leg in legs]
    # The stub types Fusion.Rrf apart from Fusion, though Edge accepts it as a query.
    fusion: Any = qe.Fusion.Rrf(k=query.rrf_k, weights=query.weights())
    # Edge pushes the top-level filter down into every prefetch, so each leg's limit
    # counts only points the audience may see.
    selection = edge_filter(query_filter(query.audience, query.kinds))
    tokens = query.rerank_tokens() if TOKENS in optional else None
    if tokens is None:
        return qe.QueryRequest(
            limit=query.limit,
            prefetches=prefetches,
            query=fusion,
            filter=selection,
            with_payload=True,
        )
    fused = qe.Prefetch(limit=query.limit, prefetches=prefetches, query=fusion)
    top = qe.Prefetch(limit=query.rerank_limit, prefetches=prefetches, query=fusion)
    maxsim = qe.Prefetch(
        limit=query.rerank_limit, prefetches=[top], query=qe.Query.Nearest(tokens, using=TOKENS)
    )
    both: Any = qe.Fusion.Rrf(k=query.rrf_k, weights=[1.0, query.token_weight])
    if query.token_fusion == "score":
        first, second = qe.Expression.Variable("$score[0]"), qe.Expression.Variable("$score[1]")
        scale = qe.Expression.Constant(query.token_weight / len(tokens))
        both = qe.Formula(
            qe.Expression.Sum([first, qe.Expression.Mult([scale, second])]),
            defaults={"$score[0]": 0.0, "$score[1]": 0.0},
        )
    return qe.QueryRequest(
        limit=query.limit,
        prefetches=[fused, maxsim],
        query=both,
        filter=selection,
        with_payload=True,
    )


def _edge_leg(leg: Leg, limit: int, has_head: bool) -> qe.Prefetch:
    vector = edge_vector(leg.vector)
    nearest = qe.Prefetch(limit=limit, query=qe.Query.Nearest(vector, using=leg.using))
    if leg.head_weight <= 0 or not has_head:
        return nearest
    head = qe.Prefetch(limit=limit, query=qe.Query.Nearest(vector, using=BM25_HEAD))
    score, head_score = qe.Expression.Variable("$score[0]"), qe.Expression.Variable("$score[1]")
    weighted = qe.Expression.Mult([qe.Expression.Constant(leg.head_weight), head_score])
    # A point found by one of the two searches only scores 0 in the other.
    formula = qe.Formula(
        qe.Expression.Sum([score, weighted]), defaults={"$score[0]": 0.0, "$score[1]": 0.0}
    )
    return qe.Prefetch(limit=limit, prefetches=[nearest, head], query=formula)


def edge_vector(vector: tuple[float, ...] | SparseVector) -> NamedVector:
    if isinstance(vector, SparseVector):
        return qe.SparseVector(list(vector.indices), [float(v) for v in vector.values])
    return list(vector)


def edge_filter(selection: AllOf) -> qe.Filter:
    return qe.Filter(must=[edge_condition(condition) for condition in selection.conditions])


def edge_condition(condition: Match | AnyOf) -> qe.FieldCondition | qe.Filter:
    if isinstance(condition, Match):
        return qe.FieldCondition(key=condition.key, match=qe.MatchValue(condition.value))
    return qe.Filter(should=[edge_condition(inner) for inner in condition.conditions])
