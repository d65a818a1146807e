"""folio's vector index: one protocol, an in-process Qdrant Edge shard or a Qdrant server."""

from __future__ import annotations

from pathlib import Path

from rag.index.base import (
    BM25,
    CLIP,
    DOCUMENT_KINDS,
    PAGE_KINDS,
    TEXT,
    HybridQuery,
    IndexPoint,
    PointPayload,
    VectorDims,
    VectorIndex,
)
from rag.index.filters import permission_filter

__all__ = [
    "BM25",
    "CLIP",
    "DOCUMENT_KINDS",
    "PAGE_KINDS",
    "TEXT",
    "HybridQuery",
    "IndexPoint",
    "PointPayload",
    "VectorDims",
    "VectorIndex",
    "open_index",
    "permission_filter",
]


def open_index(
    *, qdrant_url: str | None, qdrant_api_key: str | None, path: Path, collection: str
) -> VectorIndex:
    """Build (not open) the index: Edge under ``path`` when no URL is set, else a server client.

    Call ``await index.open(dims)`` before use and ``await index.close()`` at shutdown.
    """
    if qdrant_url is None:
        from rag.index.edge import EdgeIndex

        return EdgeIndex(path=path)
    from qdrant_client import AsyncQdrantClient

    from rag.index.server import ServerIndex

    # The version check runs in a background thread at construction and reports by
    # warning; open() surfaces an unreachable or incompatible server as IndexUnavailable.
    client = AsyncQdrantClient(url=qdrant_url, api_key=qdrant_api_key, check_compatibility=False)
    return ServerIndex(client=client, collection=collection)
