"""EdgeIndex: the Qdrant engine in-process (qdrant-edge-py), one shard under the data dir.

Edge is synchronous and single-process: every call runs in a worker thread behind one
lock, and a second process (or a second EdgeIndex) on the same path gets StoreLocked.
qdrant-edge-py 0.9.0 keeps the GIL while it works, so the thread keeps blocking work off
the event loop's code path but not off the interpreter: a query stalls other coroutines
for its ~10 ms, an upsert batch (32 points) for a few ms. ``optimize()`` would stall it
for a minute, so it never runs here: once ``optimize_after`` points have changed, a copy of
the shard is optimized in a child process and swapped in (rag.index._edge_gens), and
answers go on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import qdrant_edge as qe

from rag.errors import FolioError, IndexUnavailable, StoreLocked
from rag.index import _edge_gens
from rag.index._edge_query import edge_filter, edge_request, edge_vector
from rag.index.base import (
    BM25,
    BM25_HEAD,
    CLIP,
    KEYWORD_FIELDS,
    OPTIONAL_VECTORS,
    TEXT,
    TOKENS,
    HybridQuery,
    IndexPoint,
    VectorDims,
    VectorIndex,
    as_floats,
    as_rows,
    dims_mismatch,
    hit_from_payload,
)
from rag.index.filters import (
    channel_filter,
    count_filter,
    document_filter,
    visibility_payload,
)
from rag.types import Hit

if TYPE_CHECKING:
    from qdrant_edge import NamedVector

logger = logging.getLogger(__name__)

T = TypeVar("T")
_CONFIG_FILE = "edge_config.json"
# How Edge words "another handle holds the WAL lock" (flock EWOULDBLOCK).
_LOCK_MARKERS = ("WouldBlock", "Resource temporarily unavailable", "locked")
# Points per write. Edge keeps the GIL while it converts and writes a batch, stalling the
# event loop meanwhile: ~3 ms for 32 points at folio's dims, ~50 ms for 256.
_UPSERT_BATCH = 32


class EdgeIndex(VectorIndex):
    """A VectorIndex over one Qdrant Edge shard at ``path``; durable after every write."""

    def __init__(self, *, path: Path, optimize_after: int | None = 5000) -> None:
        self._root = path
        self._path = path  # the live generation's directory, once open
        # Writes (and the snapshot an optimize starts from) take _writes, then _lock;
        # queries take _lock alone, so they go on while a snapshot is being copied.
        self._writes = threading.Lock()
        self._lock = threading.Lock()
        self._shard: qe.EdgeShard | None = None
        self._dims: VectorDims | None = None
        # The optional vectors this shard has (an older shard may lack them).
        self._optional: frozenset[str] = OPTIONAL_VECTORS
        self._optimize_after = optimize_after
        self._changed = 0
        # Writes applied since the snapshot, replayed onto the optimized copy at the swap.
        self._journal: list[qe.UpdateOperation] | None = None
        self._optimizing: asyncio.Task[bool] | None = None

    async def open(self, dims: VectorDims) -> None:
        """Create the shard if missing (named vectors + payload indexes), else load and check it."""
        if self._shard is not None:
            return
        started = time.perf_counter()
        self._path = _edge_gens.live_dir(self._root)
        shard = await asyncio.to_thread(self._open_blocking, dims)
        self._shard, self._dims = shard, dims
        await asyncio.to_thread(_edge_gens.remove, _edge_gens.stale_dirs(self._root))
        logger.info(
            "vector index opened: edge shard %s in %.0f ms",
            self._path,
            (time.perf_counter() - started) * 1000,
        )

    async def upsert(self, points: Sequence[IndexPoint]) -> None:
        """Upsert in batches, then flush so the points survive a crash."""
        dims = self._require_dims()
        for point in points:
            point.check(dims)
        for start in range(0, len(points), _UPSERT_BATCH):
            # Conversion runs in the worker thread too, batch by batch.
            batch = points[start : start + _UPSERT_BATCH]
            await self._write(partial(_upsert_operation, batch, self._optional))
        if points:
            await self._write(None)

    async def query(self, query: HybridQuery) -> list[Hit]:
        """Permission-filtered prefetch per leg, fused by weighted RRF (then MaxSim, if asked)."""
        query.check(self._require_dims())
        if not query.legs():
            return []
        request = edge_request(query, self._optional)
        scored = await self._call(lambda shard: shard.query(request))
        return [hit_from_payload(str(point.id), point.score, point.payload) for point in scored]

    async def set_channel_visibility(self, team_id: str, channel_id: str, private: bool) -> None:
        """Rewrite the visibility payload of one channel's points, then flush."""
        selection = edge_filter(channel_filter(team_id, channel_id))
        payload = visibility_payload(channel_id, private)
        operation = qe.UpdateOperation.set_payload_by_filter(selection, payload)
        await self._write(lambda: (operation, 0))
        await self._write(None)

    async def delete_document(self, document_id: str) -> None:
        """Delete every point of the document, then flush."""
        selection = edge_filter(document_filter(document_id))
        operation = qe.UpdateOperation.delete_points_by_filter(selection)
        counted = qe.CountRequest(exact=True, filter=selection)
        # Counted first: vacuuming deleted points is part of what an optimize is for.
        await self._write(lambda: (operation, self._shard_now().count(counted)))
        await self._write(None)

    async def compact(self) -> None:
        """Vacuum deleted points out of the segment files: an optimize in a child process.

        A run already going copied the shard before the latest deletes, so it is followed
        by a fresh one.
        """
        if self._optimizing is not None:
            await self.optimize()
        await self.optimize()

    async def count(self, *, document_id: str | None = None, team_id: str | None = None) -> int:
        """Exact count, optionally of one document and/or one team."""
        selection = count_filter(document_id=document_id, team_id=team_id)
        request = qe.CountRequest(exact=True, filter=edge_filter(selection) if selection else None)
        return await self._call(lambda shard: shard.count(request))

    async def optimize(self) -> bool:
        """Optimize now (merge, vacuum, HNSW build) in a child process; True once swapped in.

        Queries and writes go on meanwhile. Folio also starts this by itself once
        ``optimize_after`` points have changed; a call during a run waits for that run.
        """
        if self._optimizing is None:
            self._require_dims()
            self._optimizing = asyncio.create_task(self._optimize_in_background())
        return await asyncio.shield(self._optimizing)

    @property
    def optimizing(self) -> bool:
        """True while a background optimize is running."""
        return self._optimizing is not None

    async def _optimize_in_background(self) -> bool:
        target = _edge_gens.next_dir(self._root)
        started = time.perf_counter()
        try:
            await asyncio.to_thread(self._snapshot, target)
            if not await _edge_gens.optimize_in_child(target):
                return False
            await asyncio.to_thread(self._swap, target)
        finally:
            self._journal = None
            self._optimizing = None
            await asyncio.to_thread(_edge_gens.remove, _edge_gens.stale_dirs(self._root))
        logger.info("edge shard optimized into %s in %.1f s", target, time.perf_counter() - started)
        return True

    def _snapshot(self, target: Path) -> None:
        with self._writes:
            with self._lock:
                self._shard_now().flush()
            # Only writes wait for the copy; queries read the live shard meanwhile.
            shutil.copytree(self._path, target)
            self._journal = []
            self._changed = 0

    def _swap(self, target: Path) -> None:
        with self._writes, self._lock:
            fresh = qe.EdgeShard.load(
                str(target), _edge_config(self._require_dims(), self._optional)
            )
            for operation in self._journal or ():
                fresh.update(operation)
            fresh.flush()
            old, self._shard, self._path = self._shard_now(), fresh, target
            _edge_gens.promote(self._root, target)
            old.close()

    def _maybe_optimize(self) -> None:
        due = self._optimize_after is not None and self._changed >= self._optimize_after
        if due and self._optimizing is None:
            self._optimizing = asyncio.create_task(self._optimize_in_background())

    async def close(self) -> None:
        """Flush and close the shard; a later open() at the same path loads it again."""
        if self._optimizing is not None:
            # A half-done optimize is dropped; the live shard holds every write.
            self._optimizing.cancel()
            with suppress(asyncio.CancelledError, IndexUnavailable):
                await self._optimizing
        await asyncio.to_thread(self._close_blocking)

    async def drop(self) -> None:
        """Close the shard and delete its folder (open it first: that proves no one else has it)."""
        await self.close()
        await asyncio.to_thread(shutil.rmtree, self._path, True)
        logger.info("vector index dropped: edge shard %s", self._path)

    def _open_blocking(self, dims: VectorDims) -> qe.EdgeShard:
        try:
            if _has_shard(self._path):
                stored = _stored_dims(self._path)
                if stored is not None and stored != dims:
                    raise dims_mismatch(str(self._path), dims, stored)
                self._optional = _stored_optional(self._path)
                if self._optional != OPTIONAL_VECTORS:
                    logger.warning(
                        "the vector index in %s was made before %s existed; run "
                        "`folio reindex --all` to add them",
                        self._path,
                        ", ".join(sorted(OPTIONAL_VECTORS - self._optional)),
                    )
                shard = qe.EdgeShard.load(str(self._path), _edge_config(dims, self._optional))
            else:
                self._path.mkdir(parents=True, exist_ok=True)
                shard = qe.EdgeShard.create(str(self._path), _edge_config(dims))
        except FolioError:
            raise
        except Exception as exc:  # Edge raises bare Exception for everything
            raise self._open_error(exc, dims) from exc
        try:
            _ensure_keyword_indexes(shard)
        except Exception as exc:
            shard.close()
            raise IndexUnavailable(detail=f"edge payload index: {exc}") from exc
        return shard

    def _open_error(self, exc: Exception, dims: VectorDims) -> FolioError:
        message = str(exc)
        if any(marker in message for marker in _LOCK_MARKERS):
            return StoreLocked(
                f"Another folio process is using the vector store in {self._path}; stop it, "
                "or run folio with QDRANT_URL set to a Qdrant server to share one index.",
                detail=message,
            )
        if "incompatible" in message.lower():
            return dims_mismatch(str(self._path), dims, None, detail=message)
        if isinstance(exc, OSError):
            return IndexUnavailable(
                f"folio cannot open its vector store in {self._path}; check that the data "
                "dir exists and is writable.",
                detail=message,
            )
        return IndexUnavailable(detail=f"edge open {self._path}: {message}")

    def _close_blocking(self) -> None:
        with self._lock:
            shard, self._shard = self._shard, None
            if shard is None:
                return
            try:
                shard.flush()
            finally:
                shard.close()
        logger.info("vector index closed: edge shard %s", self._path)

    def _require_dims(self) -> VectorDims:
        if self._dims is None or self._shard is None:
            raise IndexUnavailable(detail="the edge vector index is not open")
        return self._dims

    async def _call(self, action: Callable[[qe.EdgeShard], T]) -> T:
        return await asyncio.to_thread(self._locked, action)

    async def _write(self, make: Callable[[], tuple[qe.UpdateOperation, int]] | None) -> None:
        """Apply the operation ``make`` builds (None: flush), recording it for a swap."""

        def write(shard: qe.EdgeShard) -> None:
            if make is None:
                shard.flush()
                return
            operation, changed = make()
            shard.update(operation)
            self._changed += changed
            if self._journal is not None:
                self._journal.append(operation)

        await asyncio.to_thread(self._written, write)
        self._maybe_optimize()

    def _written(self, action: Callable[[qe.EdgeShard], None]) -> None:
        with self._writes:
            self._locked(action)

    def _shard_now(self) -> qe.EdgeShard:
        if self._shard is None:
            raise IndexUnavailable(detail="the edge vector index is closed")
        return self._shard

    def _locked(self, action: Callable[[qe.EdgeShard], T]) -> T:
        with self._lock:
            if self._shard is None:
                raise IndexUnavailable(detail="the edge vector index is closed")
            try:
                return action(self._shard)
            except Exception as exc:  # Edge raises bare Exception for everything
                raise IndexUnavailable(detail=f"edge {self._path}: {exc}") from exc


def _upsert_operation(
    points: Sequence[IndexPoint], optional: frozenset[str]
) -> tuple[qe.UpdateOperation, int]:
    operation = qe.UpdateOperation.upsert_points([_edge_point(p, optional) for p in points])
    return operation, len(points)


def _edge_config(dims: VectorDims, optional: frozenset[str] = OPTIONAL_VECTORS) -> qe.EdgeConfig:
    vectors = {
        CLIP: qe.EdgeVectorParams(size=dims.clip, distance=qe.Distance.Cosine),
        TEXT: qe.EdgeVectorParams(size=dims.text, distance=qe.Distance.Cosine),
    }
    if TOKENS in optional:
        # float16 halves what a passage's ~100 token rows of 384 floats cost on disk.
        vectors[TOKENS] = qe.EdgeVectorParams(
            size=dims.text,
            distance=qe.Distance.Cosine,
            multivector_config=qe.MultiVectorConfig(qe.MultiVectorComparator.MaxSim),
            datatype=qe.VectorStorageDatatype.Float16,
        )
    sparse = {BM25: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)}
    if BM25_HEAD in optional:
        sparse[BM25_HEAD] = qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)
    return qe.EdgeConfig(vectors=vectors, sparse_vectors=sparse)


def _has_shard(path: Path) -> bool:
    return (path / _CONFIG_FILE).exists() or (path / "segments").exists()


def _stored_dims(path: Path) -> VectorDims | None:
    """Dims recorded in Edge's own config file, for a precise message; None if unreadable."""
    try:
        vectors = json.loads((path / _CONFIG_FILE).read_text())["vectors"]
        return VectorDims(clip=int(vectors[CLIP]["size"]), text=int(vectors[TEXT]["size"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _stored_optional(path: Path) -> frozenset[str]:
    """The optional vectors in Edge's own config file (all of them if it cannot be read)."""
    try:
        config = json.loads((path / _CONFIG_FILE).read_text())
        names = {*config.get("vectors", {}), *config.get("sparse_vectors", {})}
    except (OSError, ValueError, AttributeError, TypeError):
        return OPTIONAL_VECTORS
    return OPTIONAL_VECTORS & names


def _ensure_keyword_indexes(shard: qe.EdgeShard) -> None:
    existing = shard.info().payload_schema
    for name in KEYWORD_FIELDS:
        if name not in existing:
            shard.update(qe.UpdateOperation.create_field_index(name, qe.PayloadSchemaType.Keyword))


def _edge_point(point: IndexPoint, optional: frozenset[str] = OPTIONAL_VECTORS) -> qe.Point:
    vectors: dict[str, NamedVector] = {}
    if point.clip is not None:
        vectors[CLIP] = as_floats(point.clip)
    if point.text is not None:
        vectors[TEXT] = as_floats(point.text)
    if point.bm25 is not None and point.bm25.indices:
        vectors[BM25] = edge_vector(point.bm25)
    head = point.bm25_head
    if head is not None and head.indices and BM25_HEAD in optional:
        vectors[BM25_HEAD] = edge_vector(head)
    if point.tokens is not None and len(point.tokens) and TOKENS in optional:
        vectors[TOKENS] = as_rows(point.tokens)
    return qe.Point(point.id, vectors, point.payload.to_dict())
