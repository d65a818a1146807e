"""The backfills table: runs over the files already in a channel, and their progress."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rag.db._errors import translated
from rag.db.models import BackfillRow, IngestionJobRow, utcnow
from rag.types import BackfillProgress, Scope

logger = logging.getLogger(__name__)

# The progress message names this many failed files with their reasons, at most.
MAX_FAILURES = 10


class BackfillLog:
    """Backfill runs; their jobs live in the job queue, tagged with the run's id."""

    def __init__(self, *, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @translated("recording a backfill")
    async def start(self, scope: Scope, total: int) -> str:
        """Record a run over ``total`` files in ``scope``'s channel; its id."""
        backfill_id = str(uuid.uuid4())
        async with self._sessions() as session, session.begin():
            session.add(
                BackfillRow(
                    id=backfill_id,
                    team_id=scope.team_id,
                    channel_id=scope.channel_id,
                    total=total,
                    created_at=utcnow(),
                )
            )
        logger.info("backfill %s of %d files in %s", backfill_id, total, scope.channel_id)
        return backfill_id

    @translated("recording a backfill's progress message")
    async def set_message(self, backfill_id: str, message_ts: str | None) -> None:
        """Remember the progress message that finished jobs update."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(BackfillRow)
                .where(BackfillRow.id == backfill_id)
                .values(message_ts=message_ts)
            )

    @translated("reading a backfill's progress")
    async def progress(self, backfill_id: str) -> BackfillProgress | None:
        """Where the run stands: its total and how many of its jobs are done or failed."""
        counts = (
            select(IngestionJobRow.status, func.count())
            .where(IngestionJobRow.backfill_id == backfill_id)
            .group_by(IngestionJobRow.status)
        )
        failed = (
            select(IngestionJobRow.file_name, IngestionJobRow.error)
            .where(IngestionJobRow.backfill_id == backfill_id, IngestionJobRow.status == "failed")
            .order_by(IngestionJobRow.updated_at, IngestionJobRow.id)
            .limit(MAX_FAILURES)
        )
        async with self._sessions() as session:
            row = await session.get(BackfillRow, backfill_id)
            by_status = {str(s): int(n) for s, n in (await session.execute(counts)).all()}
            failures = tuple(
                (str(n), str(e or "")) for n, e in (await session.execute(failed)).all()
            )
        if row is None:
            return None
        return BackfillProgress(
            id=row.id,
            channel_id=row.channel_id,
            message_ts=row.message_ts,
            total=row.total,
            done=by_status.get("done", 0),
            failed=by_status.get("failed", 0),
            failures=failures,
        )
