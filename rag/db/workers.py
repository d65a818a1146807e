"""The workers table: each `folio worker` process beats here, so others can tell it runs.

``folio serve`` reads it to say when no worker is running (files would wait in the queue
unseen), and with the embedded index to leave indexing to the workers while any run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rag.db._errors import translated
from rag.db._sql import insert_for
from rag.db.models import WorkerRow, utcnow

Clock = Callable[[], datetime]
# A worker that has not beaten for a day is gone for good: its row is deleted.
_FORGET_AFTER = timedelta(days=1)


class WorkerRegistry:
    """Heartbeats of `folio worker` processes."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        live_s: float = 30.0,
        clock: Clock = utcnow,
    ) -> None:
        self._sessions = sessions
        self.live_s = live_s
        self._clock = clock

    @translated("recording a worker's heartbeat")
    async def beat(self, worker_id: str) -> None:
        """Record that ``worker_id`` runs now (and forget workers silent for a day)."""
        now = self._clock()
        async with self._sessions() as session, session.begin():
            insert = insert_for(session, WorkerRow).values(
                id=worker_id, started_at=now, seen_at=now
            )
            beat = insert.on_conflict_do_update(index_elements=["id"], set_={"seen_at": now})
            await session.execute(beat)
            await session.execute(delete(WorkerRow).where(WorkerRow.seen_at < now - _FORGET_AFTER))

    @translated("removing a worker")
    async def leave(self, worker_id: str) -> None:
        """Forget ``worker_id``: it stops cleanly."""
        async with self._sessions() as session, session.begin():
            await session.execute(delete(WorkerRow).where(WorkerRow.id == worker_id))

    @translated("counting workers")
    async def live(self) -> int:
        """Workers that beat within the last ``live_s`` seconds."""
        since = self._clock() - timedelta(seconds=self.live_s)
        query = select(func.count()).where(WorkerRow.seen_at >= since)
        async with self._sessions() as session:
            return int(await session.scalar(query) or 0)
