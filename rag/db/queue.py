"""The ingestion_jobs table as a durable queue, safe with several worker processes.

A job is ``queued`` until a worker claims it; the claim is one conditional UPDATE, so two
workers never take the same job. A claimed job is ``running`` under a lease that the worker's
heartbeat extends; when a worker dies, the lease runs out and another worker resumes the job.
Every claim draws a new lease token, and every later update of the job (heartbeat, succeed,
fail, retry, release) must present it: a worker that stalled past its lease and woke up after
another worker took the job over is refused (``LeaseLost``), so it can never finish, fail or
report a job that is no longer its own.
Every claim counts an attempt, and a job that used them all ends ``failed`` with a sentence a
person can act on. A queued job may carry a "not before" time (``lease_until``) after a
transient error, so retries back off.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, cast

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rag.db._errors import translated
from rag.db._sql import clean_text, insert_for, rowcount
from rag.db.models import IngestionJobRow, utcnow
from rag.errors import LeaseLost
from rag.types import Scope

logger = logging.getLogger(__name__)

JobStatus = Literal["queued", "running", "done", "failed"]
Clock = Callable[[], datetime]

# How many candidates one claim looks at before giving up to a busier worker.
_CLAIM_CANDIDATES = 5


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What to index: a file shared in a channel (or a local file, with no Slack ids)."""

    team_id: str
    channel_id: str
    channel_private: bool
    file_name: str
    slack_file_id: str | None = None
    user_id: str | None = None
    message_ts: str | None = None
    thread_ts: str | None = None
    backfill_id: str | None = None


@dataclass(frozen=True, slots=True)
class Job:
    """A job as stored: its spec, where it stands, and how it ended."""

    id: str
    team_id: str
    channel_id: str
    channel_private: bool
    file_name: str
    slack_file_id: str | None
    user_id: str | None
    message_ts: str | None
    thread_ts: str | None
    status: JobStatus
    attempts: int
    max_attempts: int
    error: str | None
    document_id: str | None
    summary: str | None
    backfill_id: str | None = None
    # The token of the claim this copy was read under; updates must present it.
    lease: str | None = None

    @property
    def scope(self) -> Scope:
        """Where the document will live."""
        return Scope(self.team_id, self.channel_id, self.channel_private)


class JobQueue:
    """Ingestion jobs in the database, claimed under leases."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        lease_s: float = 900,
        max_attempts: int = 3,
        retry_delay_s: float = 30.0,
        clock: Clock = utcnow,
    ) -> None:
        self._sessions = sessions
        self.lease_s = lease_s
        self._max_attempts = max_attempts
        self._retry_delay_s = retry_delay_s
        self._clock = clock

    @translated("queueing a file")
    async def enqueue(self, spec: JobSpec, *, again: bool = False) -> tuple[Job, bool]:
        """Queue a job; True when it will run.

        A Slack file already queued, running or done in this channel is not queued again
        (Slack reports one share more than once), so its job comes back with False. A job
        that failed is queued again for the new share, with its attempts reset; with
        ``again`` (the file changed) so is a done one.
        """
        now = self._clock()
        values = {
            **_spec_values(spec),
            "id": str(uuid.uuid4()),
            "status": "queued",
            "attempts": 0,
            "max_attempts": self._max_attempts,
            "created_at": now,
            "updated_at": now,
        }
        key = ["team_id", "channel_id", "slack_file_id"]
        async with self._sessions() as session, session.begin():
            insert = insert_for(session, IngestionJobRow).values(**values)
            result = await session.execute(insert.on_conflict_do_nothing(index_elements=key))
            created = rowcount(result) == 1
            if created:
                row = await session.get_one(IngestionJobRow, values["id"])
            else:
                row = (await session.scalars(select(IngestionJobRow).where(_same_file(spec)))).one()
        if created:
            logger.info("queued job %s for %s/%s", row.id, spec.team_id, spec.channel_id)
            return _job(row), True
        statuses = ("failed", "done") if again else ("failed",)
        if row.status not in statuses:
            return _job(row), False
        return await self._requeue(row.id, spec, statuses, now)

    async def _requeue(
        self, job_id: str, spec: JobSpec, statuses: tuple[str, ...], now: datetime
    ) -> tuple[Job, bool]:
        values = {
            **_spec_values(spec),
            "status": "queued",
            "attempts": 0,
            "error": None,
            "lease_until": None,
            "worker_id": None,
            "lease_token": None,
            "updated_at": now,
        }
        async with self._sessions() as session, session.begin():
            statement = (
                update(IngestionJobRow)
                .where(IngestionJobRow.id == job_id, IngestionJobRow.status.in_(statuses))
                .values(**values)
            )
            requeued = rowcount(await session.execute(statement)) == 1
            row = await session.get_one(IngestionJobRow, job_id)
        if requeued:
            logger.info("queued job %s again for %s/%s", job_id, spec.team_id, spec.channel_id)
        return _job(row), requeued

    @translated("reading a channel's jobs")
    async def files_with_jobs(
        self, scope: Scope, slack_file_ids: list[str], *, failed: bool = True
    ) -> set[str]:
        """Which of these Slack files have a job in the channel (``failed`` ones too, or not)."""
        if not slack_file_ids:
            return set()
        query = select(IngestionJobRow.slack_file_id).where(
            IngestionJobRow.team_id == scope.team_id,
            IngestionJobRow.channel_id == scope.channel_id,
            IngestionJobRow.slack_file_id.in_(slack_file_ids),
        )
        if not failed:
            query = query.where(IngestionJobRow.status != "failed")
        async with self._sessions() as session:
            return {str(v) for v in (await session.scalars(query)).all() if v is not None}

    @translated("claiming a job")
    async def claim(self, worker_id: str) -> Job | None:
        """Take the oldest claimable job (queued, or running under an expired lease).

        A job whose lease ran out on its last attempt is never claimed; ``reap`` fails it
        (the JobRunner reaps before it claims, and reports what it reaped).
        """
        now = self._clock()
        candidates = (
            select(IngestionJobRow.id)
            .where(_claimable(now))
            .order_by(IngestionJobRow.created_at, IngestionJobRow.id)
            .limit(_CLAIM_CANDIDATES)
        )
        async with self._sessions() as session:
            ids = list((await session.scalars(candidates)).all())
        for job_id in ids:
            job = await self._try_claim(job_id, worker_id, now)
            if job is not None:
                return job
        return None

    @translated("failing abandoned jobs")
    async def reap(self) -> list[Job]:
        """Fail running jobs whose lease ran out on their last attempt; returns them.

        A worker that died on every attempt probably died of the file itself (memory, a
        parser crash), so the job ends instead of taking down more workers.
        """
        now = self._clock()
        query = select(IngestionJobRow).where(_abandoned(now))
        async with self._sessions() as session:
            rows = list((await session.scalars(query)).all())
        reaped = []
        for row in rows:
            message = (
                f"folio could not finish indexing {row.file_name} after {row.attempts} tries; "
                "try a smaller or simpler file."
            )
            values = _finished("failed", now, error=message)
            async with self._sessions() as session, session.begin():
                changed = update(IngestionJobRow).where(
                    IngestionJobRow.id == row.id, _abandoned(now)
                )
                if rowcount(await session.execute(changed.values(**values))) == 1:
                    reaped.append(_job(await session.get_one(IngestionJobRow, row.id)))
                    logger.warning("job %s abandoned after %d attempts", row.id, row.attempts)
        return reaped

    @translated("extending a job's lease")
    async def heartbeat(self, job: Job) -> None:
        """Extend a running job's lease; LeaseLost when the job is no longer held under it."""
        now = self._clock()
        lease = now + timedelta(seconds=self.lease_s)
        await self._fenced(job, "extending the lease", lease_until=lease, updated_at=now)

    async def succeed(self, job: Job, *, document_id: str, summary: str) -> None:
        """Mark a job done with the document it produced; LeaseLost when no longer ours."""
        values = _finished("done", self._clock(), error=None)
        values.update(document_id=document_id, summary=clean_text(summary))
        await self._fenced(job, "finishing", **values)
        logger.info("job %s done: document %s", job.id, document_id)

    async def fail(self, job: Job, user_message: str) -> None:
        """Mark a job failed for good, with a sentence for the person who shared the file."""
        values = _finished("failed", self._clock(), error=clean_text(user_message))
        await self._fenced(job, "failing", **values)
        logger.info("job %s failed", job.id)

    async def retry_later(self, job: Job, user_message: str) -> bool:
        """Queue a job again after a transient error, backing off; when its attempts are used
        up, fail it instead. True when it will be retried; LeaseLost when no longer ours."""
        if job.attempts >= job.max_attempts:
            await self.fail(job, user_message)
            return False
        now = self._clock()
        delay = timedelta(seconds=self._retry_delay_s * 2 ** max(job.attempts - 1, 0))
        await self._fenced(
            job,
            "queueing again",
            status="queued",
            lease_until=now + delay,
            worker_id=None,
            lease_token=None,
            error=clean_text(user_message),
            updated_at=now,
        )
        logger.info("job %s will be retried in %.0f s", job.id, delay.total_seconds())
        return True

    async def release(self, job: Job, *, after_s: float = 0.0) -> bool:
        """Hand a running job back to the queue, unharmed: the worker is shutting down, or
        waits on another process; ``after_s`` holds it back that long.

        The attempt is not counted, and nothing happens if the job is no longer held under
        ``job.lease``. True when the job was released.
        """
        now = self._clock()
        try:
            await self._fenced(
                job,
                "handing back",
                status="queued",
                attempts=IngestionJobRow.attempts - 1,
                lease_until=now + timedelta(seconds=after_s) if after_s else None,
                worker_id=None,
                lease_token=None,
                updated_at=now,
            )
        except LeaseLost:
            return False
        logger.info("released job %s (attempt %d not counted)", job.id, job.attempts)
        return True

    @translated("reading a job")
    async def get(self, job_id: str) -> Job | None:
        """The job with this id."""
        async with self._sessions() as session:
            row = await session.get(IngestionJobRow, job_id)
        return None if row is None else _job(row)

    @translated("counting jobs")
    async def pending(self) -> int:
        """Jobs not finished yet (queued or running)."""
        query = select(func.count()).where(IngestionJobRow.status.in_(("queued", "running")))
        async with self._sessions() as session:
            return int(await session.scalar(query) or 0)

    async def _try_claim(self, job_id: str, worker_id: str, now: datetime) -> Job | None:
        # The WHERE repeats the claimable test: only one worker's UPDATE can match the row.
        claim = (
            update(IngestionJobRow)
            .where(IngestionJobRow.id == job_id, _claimable(now))
            .values(
                status="running",
                attempts=IngestionJobRow.attempts + 1,
                lease_until=now + timedelta(seconds=self.lease_s),
                worker_id=worker_id,
                lease_token=str(uuid.uuid4()),
                updated_at=now,
            )
        )
        async with self._sessions() as session, session.begin():
            if rowcount(await session.execute(claim)) != 1:
                return None
            job = _job(await session.get_one(IngestionJobRow, job_id))
        logger.info("worker %s claimed job %s (attempt %d)", worker_id, job_id, job.attempts)
        return job

    @translated("updating a job")
    async def _fenced(self, job: Job, action: str, **values: object) -> None:
        # One conditional UPDATE: it matches only while the job is running under this claim.
        statement = (
            update(IngestionJobRow)
            .where(
                IngestionJobRow.id == job.id,
                IngestionJobRow.status == "running",
                IngestionJobRow.lease_token == job.lease,
            )
            .values(**values)
        )
        async with self._sessions() as session, session.begin():
            if rowcount(await session.execute(statement)) == 1:
                return
        raise LeaseLost(detail=f"job {job.id}: lease {job.lease} lost before {action}")


def _spec_values(spec: JobSpec) -> dict[str, object]:
    return {
        "team_id": spec.team_id,
        "channel_id": spec.channel_id,
        "channel_private": spec.channel_private,
        "file_name": clean_text(spec.file_name),
        "slack_file_id": spec.slack_file_id,
        "user_id": spec.user_id,
        "message_ts": spec.message_ts,
        "thread_ts": spec.thread_ts,
        "backfill_id": spec.backfill_id,
    }


def _same_file(spec: JobSpec) -> ColumnElement[bool]:
    return and_(
        IngestionJobRow.team_id == spec.team_id,
        IngestionJobRow.channel_id == spec.channel_id,
        IngestionJobRow.slack_file_id == spec.slack_file_id,
    )


def _claimable(now: datetime) -> ColumnElement[bool]:
    # Queued and due (no back-off, or back-off over), or running under a lapsed lease;
    # either way with an attempt left.
    queued = and_(
        IngestionJobRow.status == "queued",
        or_(IngestionJobRow.lease_until.is_(None), IngestionJobRow.lease_until <= now),
    )
    lapsed = and_(IngestionJobRow.status == "running", IngestionJobRow.lease_until < now)
    return and_(or_(queued, lapsed), IngestionJobRow.attempts < IngestionJobRow.max_attempts)


def _abandoned(now: datetime) -> ColumnElement[bool]:
    return and_(
        IngestionJobRow.status == "running",
        IngestionJobRow.lease_until < now,
        IngestionJobRow.attempts >= IngestionJobRow.max_attempts,
    )


def _finished(status: JobStatus, now: datetime, *, error: str | None) -> dict[str, object]:
    return {
        "status": status,
        "error": error,
        "lease_until": None,
        "worker_id": None,
        "lease_token": None,
        "updated_at": now,
    }


def _job(row: IngestionJobRow) -> Job:
    return Job(
        id=row.id,
        team_id=row.team_id,
        channel_id=row.channel_id,
        channel_private=row.channel_private,
        file_name=row.file_name,
        slack_file_id=row.slack_file_id,
        user_id=row.user_id,
        message_ts=row.message_ts,
        thread_ts=row.thread_ts,
        status=cast(JobStatus, row.status),
        attempts=row.attempts,
        error=row.error,
        document_id=row.document_id,
        summary=row.summary,
        max_attempts=row.max_attempts,
        backfill_id=row.backfill_id,
        lease=row.lease_token,
    )
