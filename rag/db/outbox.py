"""The point outbox: vector-index writes waiting for the process that owns the index.

The embedded index (Qdrant Edge) admits one process. A ``folio worker`` beside ``folio serve``
therefore never opens it: it parses and embeds, then appends its index writes here (upserts
with their vectors and payloads, deletes by document, a channel's visibility), and the owner
applies them in ``id`` order and deletes what it applied (``rag._outbox``).

A write made while a job is held is fenced like every other update of that job: in the same
transaction it touches the job row under the claim's lease token, so once another worker has
taken the job over (its claim waits for, or follows, that transaction) the old holder can add
nothing more (``LeaseLost``). Every write of a document therefore comes from one writer after
another, in commit order, which is ``id`` order for that document.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rag.db._errors import translated
from rag.db._sql import rowcount
from rag.db.models import IngestionJobRow, PointOutboxRow, utcnow
from rag.db.queue import Job
from rag.errors import LeaseLost

logger = logging.getLogger(__name__)

OutboxOp = Literal["upsert", "delete", "visibility"]
Clock = Callable[[], datetime]

# The job the running task works on: its outbox writes are fenced by that job's lease.
_held: ContextVar[Job | None] = ContextVar("folio_held_job", default=None)


def held_job() -> Job | None:
    """The job this task works on (set by the JobRunner), if any."""
    return _held.get()


@contextmanager
def holding(job: Job) -> Iterator[None]:
    """Mark ``job`` as the one this task (and the tasks it starts) works on."""
    token = _held.set(job)
    try:
        yield
    finally:
        _held.reset(token)


@dataclass(frozen=True, slots=True)
class OutboxWrite:
    """One index write: what it does, to which team and document, and its JSON body."""

    op: OutboxOp
    team_id: str
    document_id: str
    body: dict[str, Any]
    points: int = 0


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A write as stored, with its place in the order and the generation it is for."""

    id: int
    generation_id: int
    write: OutboxWrite


class PointOutbox:
    """The ``point_outbox`` table: appended by writers, drained by the index owner."""

    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], clock: Clock = utcnow):
        self._sessions = sessions
        self._clock = clock

    @translated("queueing index writes")
    async def append(
        self, generation_id: int, writes: Sequence[OutboxWrite], *, job: Job | None = None
    ) -> None:
        """Append ``writes`` in order, in one transaction; fenced by ``job``'s lease if given."""
        now = self._clock()
        async with self._sessions() as session, session.begin():
            if job is not None:
                await _hold(session, job)
            session.add_all(_row(generation_id, write, job, now) for write in writes)

    @translated("reading the index outbox")
    async def head(self, generation_id: int, limit: int) -> list[OutboxEntry]:
        """The oldest ``limit`` writes for one generation, in the order they are applied."""
        query = (
            select(PointOutboxRow)
            .where(PointOutboxRow.generation_id == generation_id)
            .order_by(PointOutboxRow.id)
            .limit(limit)
        )
        async with self._sessions() as session:
            rows = (await session.scalars(query)).all()
        return [_entry(row) for row in rows]

    @translated("dropping stale index writes")
    async def drop_before(self, generation_id: int) -> int:
        """Delete the writes for generations older than ``generation_id``; how many.

        Their generation was rebuilt from the stored files, and a document recorded in it
        after the rebuild is reported missing at start (``folio reindex`` adds it).
        """
        stale = delete(PointOutboxRow).where(PointOutboxRow.generation_id < generation_id)
        async with self._sessions() as session, session.begin():
            return rowcount(await session.execute(stale))

    @translated("clearing applied index writes")
    async def remove(self, ids: Sequence[int]) -> None:
        """Delete applied writes (deleting one twice is harmless)."""
        if not ids:
            return
        async with self._sessions() as session, session.begin():
            await session.execute(delete(PointOutboxRow).where(PointOutboxRow.id.in_(ids)))

    @translated("counting index writes")
    async def waiting(self, *, document_id: str | None = None) -> int:
        """Writes not applied yet, of one document or all."""
        query = select(func.count()).select_from(PointOutboxRow)
        if document_id is not None:
            query = query.where(PointOutboxRow.document_id == document_id)
        async with self._sessions() as session:
            return int(await session.scalar(query) or 0)

    @translated("counting points in the index outbox")
    async def points(self, *, document_id: str | None = None, team_id: str | None = None) -> int:
        """Points in upserts not applied yet, of one document and/or team."""
        query = select(func.coalesce(func.sum(PointOutboxRow.points), 0)).where(
            PointOutboxRow.op == "upsert"
        )
        if document_id is not None:
            query = query.where(PointOutboxRow.document_id == document_id)
        if team_id is not None:
            query = query.where(PointOutboxRow.team_id == team_id)
        async with self._sessions() as session:
            return int(await session.scalar(query) or 0)


async def _hold(session: AsyncSession, job: Job) -> None:
    # A no-op UPDATE under the lease token: it matches only while the job is ours, and it
    # locks the job row, so a claim that takes the job over waits for this transaction.
    held = (
        update(IngestionJobRow)
        .where(
            IngestionJobRow.id == job.id,
            IngestionJobRow.status == "running",
            IngestionJobRow.lease_token == job.lease,
        )
        .values(lease_token=IngestionJobRow.lease_token)
    )
    if rowcount(await session.execute(held)) != 1:
        raise LeaseLost(detail=f"job {job.id}: lease {job.lease} lost before writing points")


def _row(generation_id: int, write: OutboxWrite, job: Job | None, now: datetime) -> PointOutboxRow:
    return PointOutboxRow(
        generation_id=generation_id,
        op=write.op,
        team_id=write.team_id,
        document_id=write.document_id,
        points=write.points,
        body=write.body,
        job_id=None if job is None else job.id,
        created_at=now,
    )


def _entry(row: PointOutboxRow) -> OutboxEntry:
    write = OutboxWrite(
        op=cast(OutboxOp, row.op),
        team_id=row.team_id,
        document_id=row.document_id,
        body=row.body,
        points=row.points,
    )
    return OutboxEntry(row.id, row.generation_id, write)
