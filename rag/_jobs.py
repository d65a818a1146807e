"""Run ingestion jobs from the durable queue: claim, heartbeat, handle, report.

The queue itself (``JobQueue``, ``Job``, ``JobSpec``) lives in ``rag.db.queue`` and is
re-exported here. A ``JobHandler`` does the work (the Slack worker downloads and indexes a
shared file) and tells people how it went. Between jobs the runner also forgets old Slack
event ids, so the deduplication log stays small.

A worker that loses its lease (it stalled, and another worker took the job over) stops the job
as soon as its heartbeat is refused, and in any case its final update is refused: only the
worker holding the job reports it. On shutdown the job in hand gets a grace period, then is
cancelled and handed back without spending an attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from rag.db.outbox import holding
from rag.db.queue import Job, JobQueue, JobSpec, JobStatus
from rag.db.stores import EventLog
from rag.errors import (
    DownloadUnavailable,
    FolioError,
    IndexBehind,
    LeaseLost,
    ModelError,
    StoreError,
)

logger = logging.getLogger(__name__)

__all__ = [
    "APOLOGY",
    "TRANSIENT_ERRORS",
    "Job",
    "JobHandler",
    "JobOutcome",
    "JobQueue",
    "JobRunner",
    "JobSpec",
    "JobStatus",
]

# Errors that may pass on their own: a busy or unreachable store, a failing model.
TRANSIENT_ERRORS: tuple[type[FolioError], ...] = (StoreError, ModelError, DownloadUnavailable)
APOLOGY = "Sorry, folio hit an unexpected problem indexing {file}; the team has been told."
# Slack retries an event for minutes, not days; a day of event ids is plenty to dedupe.
EVENT_RETENTION = timedelta(days=1)
PRUNE_EVERY_S = 3600.0
# A job whose points the index owner has not applied yet is handed back for this long.
BEHIND_RETRY_S = 30.0

Sleep = Callable[[float], Awaitable[None]]
Applied = Callable[[str], Awaitable[None]]
StepAside = Callable[[], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """How a job ended, for the person who shared the file."""

    ok: bool
    message: str


class JobHandler(Protocol):
    """Does the work of a job and tells people how it went (Slack worker, CLI)."""

    async def run(self, job: Job) -> tuple[str, str]:
        """Index the job's file; returns (document_id, summary); FolioError for a failure."""
        ...

    async def notify(self, job: Job, outcome: JobOutcome) -> None:
        """Tell the person who shared the file how it ended."""
        ...


class JobRunner:
    """Claims jobs and runs them through a JobHandler, one at a time, until stopped.

    While a job runs, a heartbeat extends its lease every third of the lease; ``sleep`` waits
    between beats (tests pass one that runs on the queue's fake clock). When told to stop, the
    job in hand has ``grace_s`` seconds to finish before it is cancelled and handed back.
    ``applied`` (a worker writing through the point outbox) waits until a document's points
    are searchable before its job is confirmed; IndexBehind hands the job back unspent.
    ``step_aside`` (``folio serve`` on the embedded index) says when to leave the queue to
    the running `folio worker` processes.
    """

    def __init__(
        self,
        *,
        queue: JobQueue,
        handler: JobHandler,
        worker_id: str,
        poll_s: float = 1.0,
        grace_s: float = 20.0,
        events: EventLog | None = None,
        applied: Applied | None = None,
        step_aside: StepAside | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._queue = queue
        self._handler = handler
        self._worker_id = worker_id
        self._poll_s = poll_s
        self._grace_s = grace_s
        self._events = events
        self._applied = applied
        self._step_aside = step_aside
        self._clock = clock
        self._sleep = sleep
        self._next_prune: float | None = None
        self._work: asyncio.Task[JobOutcome | None] | None = None

    async def run_once(self) -> bool:
        """Handle one job if there is one; True when a job was handled."""
        for job in await self._queue.reap():
            await self._notify(job, JobOutcome(ok=False, message=job.error or ""))
        if self._step_aside is not None and await self._step_aside():
            return False
        claimed = await self._queue.claim(self._worker_id)
        if claimed is None:
            return False
        outcome = await self._run_under_lease(claimed)
        if outcome is not None:
            await self._notify(await self._queue.get(claimed.id) or claimed, outcome)
        return True

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Handle jobs until ``stop`` is set; the job in hand gets the grace period to finish,
        then is cancelled and handed back to the queue."""
        logger.info("worker %s started", self._worker_id)
        loop = asyncio.create_task(self._loop(stop))
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({loop, stopping}, return_when=asyncio.FIRST_COMPLETED)
            finished, _ = await asyncio.wait({loop}, timeout=self._grace_s)
            if not finished:
                logger.warning(
                    "worker %s: still busy after %.0f s; handing its job back",
                    self._worker_id,
                    self._grace_s,
                )
                (self._work or loop).cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        finally:
            stopping.cancel()
            loop.cancel()
        logger.info("worker %s stopped", self._worker_id)

    async def _loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.prune_events()
                worked = await self.run_once()
            except StoreError as exc:
                logger.warning("worker %s: %s", self._worker_id, exc.detail or exc.user_message)
                worked = False
            except Exception:
                logger.exception("worker %s: unexpected error between jobs", self._worker_id)
                worked = False
            if not worked:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._poll_s)

    async def prune_events(self) -> int:
        """Forget Slack event ids older than a day, at most once an hour; how many went."""
        now = self._clock()
        if self._events is None or (self._next_prune is not None and now < self._next_prune):
            return 0
        self._next_prune = now + PRUNE_EVERY_S
        pruned = await self._events.prune(EVENT_RETENTION)
        if pruned:
            logger.info("worker %s forgot %d old Slack events", self._worker_id, pruned)
        return pruned

    async def _run_under_lease(self, job: Job) -> JobOutcome | None:
        # The job runs in its own task so that a refused heartbeat or a shutdown can stop it.
        work = asyncio.create_task(self._run(job))
        beat = asyncio.create_task(self._beat(job, work))
        self._work = work
        try:
            return await work
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this runner itself is being cancelled
            return None  # the job was stopped: lease lost, or handed back at shutdown
        finally:
            self._work = None
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    async def _run(self, job: Job) -> JobOutcome | None:
        try:
            return await self._attempt(job)
        except LeaseLost as exc:
            logger.warning(
                "worker %s lost its lease: %s; the new holder reports", self._worker_id, exc.detail
            )
            return None

    async def _attempt(self, job: Job) -> JobOutcome | None:
        try:
            with holding(job):
                document_id, summary = await self._handler.run(job)
                if self._applied is not None:
                    await self._applied(document_id)
        except asyncio.CancelledError:
            # Shutdown or a lost lease: give the job back now rather than after its lease
            # runs out (refused, harmlessly, when it is no longer ours).
            if await asyncio.shield(self._queue.release(job)):
                logger.info("worker %s handed job %s back", self._worker_id, job.id)
            raise
        except IndexBehind as exc:
            logger.warning("job %s: %s; handing it back", job.id, exc.detail)
            await self._queue.release(job, after_s=BEHIND_RETRY_S)
            return None
        except TRANSIENT_ERRORS as exc:
            logger.warning("job %s: transient error: %s", job.id, exc.detail or exc.user_message)
            if await self._queue.retry_later(job, exc.user_message):
                return None
            return JobOutcome(ok=False, message=exc.user_message)
        except FolioError as exc:
            logger.warning("job %s failed: %s", job.id, exc.detail or exc.user_message)
            await self._queue.fail(job, exc.user_message)
            return JobOutcome(ok=False, message=exc.user_message)
        except Exception:
            logger.exception("job %s failed unexpectedly", job.id)
            message = APOLOGY.format(file=job.file_name)
            await self._queue.fail(job, message)
            return JobOutcome(ok=False, message=message)
        await self._queue.succeed(job, document_id=document_id, summary=summary)
        return JobOutcome(ok=True, message=summary)

    async def _notify(self, job: Job, outcome: JobOutcome) -> None:
        # A failed notification (Slack down) must not undo or repeat the work itself.
        try:
            await self._handler.notify(job, outcome)
        except Exception:
            logger.exception("could not report job %s", job.id)

    async def _beat(self, job: Job, work: asyncio.Task[JobOutcome | None]) -> None:
        interval = max(self._queue.lease_s / 3, 0.05)
        while True:
            await self._sleep(interval)
            try:
                await self._queue.heartbeat(job)
            except LeaseLost:
                logger.warning(
                    "worker %s lost its lease on job %s; stopping it", self._worker_id, job.id
                )
                work.cancel()
                return
            except StoreError as exc:
                logger.warning("heartbeat for job %s failed: %s", job.id, exc.detail)
