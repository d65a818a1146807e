"""Several processes, one embedded index: writers go through the point outbox, the owner applies.

Qdrant Edge admits one process, so on the embedded index a ``folio worker`` writes through
``OutboxIndex``: its upserts and deletes become rows of the point outbox (``rag.db.outbox``),
fenced by the lease of the job in hand. The process that opened the index (``folio serve``)
runs an ``OutboxApplier``: it applies the rows in order and deletes them once applied. A
crash between applying and deleting applies them again, which changes nothing: point ids are
deterministic, an upsert writes whole points, and a delete removes a document's points, so
replaying a run of writes in order ends where the first pass ended. The owner's own deletes
(and visibility changes) go through ``OwnedIndex``, which applies everything waiting first,
so no older write from a worker lands after a newer one of the owner. A worker confirms a
file only once its document's rows are gone (``OutboxIndex.applied``): its points are then
searchable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from rag.db.outbox import OutboxEntry, OutboxWrite, PointOutbox, held_job
from rag.errors import IndexBehind, IndexUnavailable, StoreError
from rag.index.base import (
    UPSERT_BATCH,
    HybridQuery,
    IndexPoint,
    PointPayload,
    VectorDims,
    VectorIndex,
    as_floats,
    as_rows,
)
from rag.types import Hit, SparseVector

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
# Rows applied per read: at most this many upsert batches are held in memory at once.
_APPLY_ROWS = 16


class OutboxIndex(VectorIndex):
    """The index as a worker beside the owner sees it: writes only, through the outbox.

    ``count`` answers for the points still waiting in the outbox (this process holds none);
    queries are the owner's to answer.
    """

    def __init__(
        self,
        *,
        outbox: PointOutbox,
        generation_id: int,
        wait_s: float = 120.0,
        poll_s: float = 0.2,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._outbox = outbox
        self._generation_id = generation_id
        self._wait_s = wait_s
        self._poll_s = poll_s
        self._sleep = sleep
        self._dims: VectorDims | None = None

    async def open(self, dims: VectorDims) -> None:
        """Remember the dimensions points are checked against (the owner checks the store)."""
        self._dims = dims

    async def upsert(self, points: Sequence[IndexPoint]) -> None:
        """Queue the points, in batches, in one transaction."""
        if self._dims is None:
            raise IndexUnavailable(detail="the outbox index is not open")
        for point in points:
            point.check(self._dims)
        writes = [
            OutboxWrite(
                op="upsert",
                team_id=batch[0].payload.team_id,
                document_id=batch[0].payload.document_id,
                body={"points": [point_body(p) for p in batch]},
                points=len(batch),
            )
            for batch in _batches(points)
        ]
        await self._append(writes)

    async def delete_document(self, document_id: str) -> None:
        """Queue the removal of every point of one document."""
        await self._append([OutboxWrite("delete", "", document_id, {})])

    async def set_channel_visibility(self, team_id: str, channel_id: str, private: bool) -> None:
        """Queue a channel's change of visibility."""
        body = {"channel_id": channel_id, "private": private}
        await self._append([OutboxWrite("visibility", team_id, "", body)])

    async def query(self, query: HybridQuery) -> list[Hit]:
        """Not here: the process that owns the index answers questions."""
        raise IndexUnavailable(detail="a worker writing through the outbox cannot search")

    async def compact(self) -> None:
        """Nothing to do: the owner compacts its store."""

    async def count(self, *, document_id: str | None = None, team_id: str | None = None) -> int:
        """Points queued and not applied yet, of one document and/or team."""
        return await self._outbox.points(document_id=document_id, team_id=team_id)

    async def close(self) -> None:
        """Nothing to release."""

    async def drop(self) -> None:
        """Not here: only the owner may drop its store."""
        raise IndexUnavailable(detail="a worker writing through the outbox cannot drop a store")

    async def applied(self, document_id: str) -> None:
        """Wait until the owner has applied every queued write of ``document_id``.

        IndexBehind after ``wait_s`` seconds (no owner is running, or it is far behind).
        """
        waited = 0.0
        while await self._outbox.waiting(document_id=document_id):
            if waited >= self._wait_s:
                raise IndexBehind(
                    detail=f"document {document_id}: its points still wait in the outbox "
                    f"after {self._wait_s:.0f} s; is folio serve running?"
                )
            await self._sleep(self._poll_s)
            waited += self._poll_s

    async def _append(self, writes: list[OutboxWrite]) -> None:
        await self._outbox.append(self._generation_id, writes, job=held_job())


class OutboxApplier:
    """Applies the outbox to the index this process owns, oldest write first."""

    def __init__(
        self,
        *,
        outbox: PointOutbox,
        index: VectorIndex,
        generation_id: int,
        poll_s: float = 0.25,
    ) -> None:
        self._outbox = outbox
        self._index = index
        self._generation_id = generation_id
        self._poll_s = poll_s
        self._lock = asyncio.Lock()
        self._dropped_stale = False

    async def apply(self) -> int:
        """Apply every waiting write in order, deleting each run once applied; how many."""
        async with self._lock:
            return await self._drain()

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Apply what waits, then hold off the applier while the block writes to the index."""
        async with self._lock:
            await self._drain()
            yield

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Apply the outbox as writes arrive, until ``stop`` is set."""
        while not stop.is_set():
            try:
                applied = await self.apply()
            except StoreError as exc:  # the database or the index is down: try again soon
                logger.warning("applying the index outbox failed: %s", exc.detail or exc)
                applied = 0
            if not applied:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._poll_s)

    async def _drain(self) -> int:
        if not self._dropped_stale:
            # Writes for a newer generation wait for an owner of that generation (this one
            # is about to be replaced); those for an older one are stale.
            dropped = await self._outbox.drop_before(self._generation_id)
            if dropped:
                logger.warning("dropped %d index writes for older vector generations", dropped)
            self._dropped_stale = True
        total = 0
        while entries := await self._outbox.head(self._generation_id, _APPLY_ROWS):
            await self._apply(entries)
            # A crash here applies these again at the next start: harmless (see the module).
            await self._outbox.remove([entry.id for entry in entries])
            total += len(entries)
        if total:
            logger.info("applied %d index writes from the outbox", total)
        return total

    async def _apply(self, entries: Sequence[OutboxEntry]) -> None:
        upserts: dict[str, IndexPoint] = {}
        for entry in entries:
            write = entry.write
            if write.op == "upsert":
                # Runs of upserts go in one call; a point written twice keeps its last version.
                for body in write.body["points"]:
                    point = point_from_body(body)
                    upserts.pop(point.id, None)
                    upserts[point.id] = point
                continue
            await self._flush(upserts)
            if write.op == "delete":
                await self._index.delete_document(write.document_id)
            else:
                body = write.body
                await self._index.set_channel_visibility(
                    write.team_id, str(body["channel_id"]), bool(body["private"])
                )
        await self._flush(upserts)

    async def _flush(self, upserts: dict[str, IndexPoint]) -> None:
        if upserts:
            await self._index.upsert(list(upserts.values()))
            upserts.clear()


class OwnedIndex(VectorIndex):
    """The index of the process that owns it: its deletes wait for the outbox to be applied.

    So a worker's delete still in the outbox can never land after the owner re-indexed the
    same document itself (the owner deletes a document's points before it writes them, and
    no worker can add more for it meanwhile: they hold no lease on it).
    """

    def __init__(self, *, index: VectorIndex, applier: OutboxApplier) -> None:
        self._index = index
        self._applier = applier

    async def open(self, dims: VectorDims) -> None:
        """Open the store."""
        await self._index.open(dims)

    @property
    def store(self) -> VectorIndex:
        """The store this process owns."""
        return self._index

    async def upsert(self, points: Sequence[IndexPoint]) -> None:
        """Upsert into the store."""
        await self._index.upsert(points)

    async def delete_document(self, document_id: str) -> None:
        """Delete a document's points, after the writes waiting in the outbox."""
        async with self._applier.turn():
            await self._index.delete_document(document_id)

    async def set_channel_visibility(self, team_id: str, channel_id: str, private: bool) -> None:
        """Change a channel's visibility, after the writes waiting in the outbox."""
        async with self._applier.turn():
            await self._index.set_channel_visibility(team_id, channel_id, private)

    async def query(self, query: HybridQuery) -> list[Hit]:
        """Search the store."""
        return await self._index.query(query)

    async def compact(self) -> None:
        """Compact the store."""
        await self._index.compact()

    async def count(self, *, document_id: str | None = None, team_id: str | None = None) -> int:
        """Points in the store."""
        return await self._index.count(document_id=document_id, team_id=team_id)

    async def close(self) -> None:
        """Close the store."""
        await self._index.close()

    async def drop(self) -> None:
        """Drop the store."""
        await self._index.drop()


def point_body(point: IndexPoint) -> dict[str, Any]:
    """A point as JSON: its id, payload and vectors."""
    return {
        "id": point.id,
        "payload": point.payload.to_dict(),
        "clip": None if point.clip is None else as_floats(point.clip),
        "text": None if point.text is None else as_floats(point.text),
        "bm25": _sparse_body(point.bm25),
        "bm25_head": _sparse_body(point.bm25_head),
        "tokens": None if point.tokens is None else as_rows(point.tokens),
    }


def point_from_body(body: dict[str, Any]) -> IndexPoint:
    """The inverse of ``point_body``."""
    return IndexPoint(
        id=str(body["id"]),
        payload=PointPayload.from_dict(body["payload"]),
        clip=body.get("clip"),
        text=body.get("text"),
        bm25=_sparse_from_body(body.get("bm25")),
        bm25_head=_sparse_from_body(body.get("bm25_head")),
        tokens=body.get("tokens"),
    )


def _sparse_body(vector: SparseVector | None) -> list[list[Any]] | None:
    return None if vector is None else [list(vector.indices), list(vector.values)]


def _sparse_from_body(body: list[list[Any]] | None) -> SparseVector | None:
    return None if body is None else SparseVector(tuple(body[0]), tuple(body[1]))


def _batches(points: Sequence[IndexPoint]) -> list[Sequence[IndexPoint]]:
    # One document per row, so a document's rows can be told apart (and waited for).
    batches: list[Sequence[IndexPoint]] = []
    start = 0
    for end in range(1, len(points) + 1):
        last = end == len(points)
        if (
            last
            or end - start == UPSERT_BATCH
            or points[end].payload.document_id != points[start].payload.document_id
        ):
            batches.append(points[start:end])
            start = end
    return batches
