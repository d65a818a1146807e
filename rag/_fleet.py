"""Fleet: the folio processes sharing one database, as each of them needs to see the others.

Every `folio worker` beats in the workers table while it runs. ``folio serve`` counts them:
with a Qdrant server it says when none runs (shared files would wait in the queue unseen);
with the embedded index it indexes in-process only while none runs, and applies the point
outbox the workers write to (``rag._outbox``). A worker on the embedded index waits for its
document's points to be applied before it confirms the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from rag._outbox import OutboxApplier, OutboxIndex
from rag.db.workers import WorkerRegistry
from rag.errors import StoreError

logger = logging.getLogger(__name__)


class Fleet:
    """Workers' heartbeats, and the index outbox seen from this process."""

    def __init__(
        self,
        *,
        registry: WorkerRegistry,
        beat_s: float,
        applier: OutboxApplier | None = None,
        writer: OutboxIndex | None = None,
    ) -> None:
        self._registry = registry
        self._beat_s = beat_s
        self._applier = applier
        self._writer = writer

    async def live_workers(self) -> int:
        """How many `folio worker` processes beat recently."""
        return await self._registry.live()

    async def workers_running(self) -> bool:
        """True when at least one `folio worker` runs (a store error counts as none)."""
        try:
            return await self._registry.live() > 0
        except StoreError:
            return False

    @property
    def applied(self) -> Callable[[str], Awaitable[None]] | None:
        """Waits until a document's points are searchable (only a worker writing through
        the outbox needs to wait)."""
        return None if self._writer is None else self._writer.applied

    async def beat_forever(self, worker_id: str, stop: asyncio.Event) -> None:
        """Beat as ``worker_id`` until ``stop`` is set, then leave the table."""
        while not stop.is_set():
            try:
                await self._registry.beat(worker_id)
            except StoreError as exc:
                logger.warning("worker %s: heartbeat failed: %s", worker_id, exc.detail)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._beat_s)
        with contextlib.suppress(StoreError):
            await self._registry.leave(worker_id)

    async def apply_forever(self, stop: asyncio.Event) -> None:
        """Apply the workers' index writes until ``stop`` is set (the index owner only)."""
        if self._applier is not None:
            await self._applier.run_forever(stop)
