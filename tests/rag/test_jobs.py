"""The durable ingestion queue and its runner, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rag._jobs import EVENT_RETENTION, PRUNE_EVERY_S, Job, JobOutcome, JobQueue, JobRunner, JobSpec
from rag.db import Catalog, EventLog, create_engine, session_factory
from rag.errors import (
    DownloadUnavailable,
    EncryptedDocument,
    FolioError,
    IndexUnavailable,
    LeaseLost,
    ModelUnavailable,
)
from rag.types import Document, Scope
from tests.fakes import database as db
from tests.fakes.database import FakeClock

# The backend-parametrised database fixtures (SQLite; PostgreSQL when configured).
postgres_url = db.postgres_url
database_url = db.database_url
engine = db.engine
sessions = db.sessions

LEASE_S = 60.0


def spec(
    file_id: str | None = "F1", *, channel_id: str = "C1", name: str = "report.pdf"
) -> JobSpec:
    return JobSpec(
        team_id="T1",
        channel_id=channel_id,
        channel_private=False,
        file_name=name,
        slack_file_id=file_id,
        user_id="U1",
        message_ts="111.1",
        thread_ts=None,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def queue(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> JobQueue:
    return JobQueue(sessions=sessions, lease_s=LEASE_S, max_attempts=3, clock=clock)


async def add_document(sessions: async_sessionmaker[AsyncSession], job: Job) -> str:
    """Record a document for a job, as a real handler's ingest would."""
    document = Document(
        id=str(uuid.uuid4()),
        scope=job.scope,
        file_name=job.file_name,
        content_hash=uuid.uuid4().hex,
        kind="pdf",
        page_count=0,
        figure_count=0,
        created_at=datetime.now(UTC),
    )
    await Catalog(sessions=sessions).add(document, [], b"%PDF", size_bytes=4)
    return document.id


# --- queue -----------------------------------------------------------------------------------


async def test_enqueue_is_idempotent_per_slack_file_and_channel(queue: JobQueue) -> None:
    job, created = await queue.enqueue(spec("F1"))
    again, created_again = await queue.enqueue(spec("F1"))
    elsewhere, created_elsewhere = await queue.enqueue(spec("F1", channel_id="C2"))

    assert created is True and created_again is False and created_elsewhere is True
    assert again == job
    assert elsewhere.id != job.id
    assert job.status == "queued" and job.attempts == 0
    assert job.scope == Scope("T1", "C1", False)
    assert await queue.pending() == 2


async def test_local_files_without_a_slack_id_always_get_a_new_job(queue: JobQueue) -> None:
    first, _ = await queue.enqueue(spec(None))
    second, created = await queue.enqueue(spec(None))

    assert created is True and first.id != second.id


async def test_racing_enqueues_of_one_file_make_one_job(queue: JobQueue) -> None:
    results = await asyncio.gather(*(queue.enqueue(spec("F1")) for _ in range(5)))

    assert len({job.id for job, _ in results}) == 1
    assert [created for _, created in results].count(True) == 1


async def test_claim_takes_the_oldest_queued_job(queue: JobQueue, clock: FakeClock) -> None:
    first, _ = await queue.enqueue(spec("F1"))
    clock.advance(1)
    await queue.enqueue(spec("F2"))

    claimed = await queue.claim("w1")

    assert claimed is not None and claimed.id == first.id
    assert claimed.status == "running" and claimed.attempts == 1


async def test_claim_on_an_empty_queue_returns_none(queue: JobQueue) -> None:
    assert await queue.claim("w1") is None


async def test_two_workers_racing_for_one_job_never_both_get_it(
    database_url: str, clock: FakeClock
) -> None:
    engines = [create_engine(database_url), create_engine(database_url)]
    try:
        queues = [
            JobQueue(sessions=session_factory(e), lease_s=LEASE_S, clock=clock) for e in engines
        ]
        for round_ in range(4):
            await queues[0].enqueue(spec(f"F{round_}"))
            claims = await asyncio.gather(queues[0].claim("w1"), queues[1].claim("w2"))
            assert sum(claim is not None for claim in claims) == 1
    finally:
        for e in engines:
            await e.dispose()


async def test_workers_draining_a_queue_take_each_job_exactly_once(
    database_url: str, clock: FakeClock
) -> None:
    engines = [create_engine(database_url) for _ in range(3)]
    try:
        queues = [
            JobQueue(sessions=session_factory(e), lease_s=LEASE_S, clock=clock) for e in engines
        ]
        for n in range(9):
            await queues[0].enqueue(spec(f"F{n}"))

        async def drain(queue: JobQueue, worker: str) -> list[str]:
            taken = []
            while (job := await queue.claim(worker)) is not None:
                taken.append(job.id)
            return taken

        taken = await asyncio.gather(*(drain(q, f"w{i}") for i, q in enumerate(queues)))
    finally:
        for e in engines:
            await e.dispose()

    every = [job_id for worker in taken for job_id in worker]
    assert len(every) == 9 and len(set(every)) == 9


async def test_a_job_whose_lease_expired_is_resumed_by_another_worker(
    queue: JobQueue, clock: FakeClock
) -> None:
    job, _ = await queue.enqueue(spec())
    await queue.claim("crashed-worker")
    clock.advance(LEASE_S - 1)
    assert await queue.claim("w2") is None

    clock.advance(2)
    resumed = await queue.claim("w2")

    assert resumed is not None and resumed.id == job.id and resumed.attempts == 2
    await queue.heartbeat(resumed)


async def test_a_heartbeat_keeps_the_lease(queue: JobQueue, clock: FakeClock) -> None:
    await queue.enqueue(spec())
    held = await queue.claim("w1")
    assert held is not None

    for _ in range(3):
        clock.advance(LEASE_S - 1)
        await queue.heartbeat(held)

    assert await queue.claim("w2") is None


async def test_a_job_abandoned_on_every_attempt_ends_failed(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    queue = JobQueue(sessions=sessions, lease_s=LEASE_S, max_attempts=2, clock=clock)
    job, _ = await queue.enqueue(spec(name="huge.pdf"))
    for _ in range(2):
        assert await queue.claim("w") is not None
        clock.advance(LEASE_S + 1)

    reaped = await queue.reap()

    assert [j.id for j in reaped] == [job.id]
    assert reaped[0].status == "failed" and "huge.pdf" in (reaped[0].error or "")
    assert await queue.claim("w") is None
    assert await queue.reap() == []
    assert await queue.pending() == 0


async def test_claim_never_runs_an_exhausted_job_and_reap_fails_it(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    queue = JobQueue(sessions=sessions, lease_s=LEASE_S, max_attempts=1, clock=clock)
    job, _ = await queue.enqueue(spec())
    await queue.claim("w")
    clock.advance(LEASE_S + 1)

    assert await queue.claim("w") is None
    assert [j.id for j in await queue.reap()] == [job.id]  # the runner reaps before claiming

    failed = await queue.get(job.id)
    assert failed is not None and failed.status == "failed" and failed.error


async def test_retry_later_backs_off_then_runs_again(queue: JobQueue, clock: FakeClock) -> None:
    job, _ = await queue.enqueue(spec())
    held = await queue.claim("w1")
    assert held is not None

    assert await queue.retry_later(held, "The model is busy.") is True

    waiting = await queue.get(job.id)
    assert waiting is not None and waiting.status == "queued"
    assert waiting.error == "The model is busy."
    assert await queue.claim("w1") is None  # backing off
    clock.advance(31)
    again = await queue.claim("w1")
    assert again is not None and again.id == job.id and again.attempts == 2


async def test_retry_later_fails_the_job_when_attempts_are_used_up(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    queue = JobQueue(sessions=sessions, max_attempts=1, clock=clock)
    job, _ = await queue.enqueue(spec())
    held = await queue.claim("w1")
    assert held is not None

    assert await queue.retry_later(held, "The model is busy.") is False

    failed = await queue.get(job.id)
    assert failed is not None and failed.status == "failed" and failed.error == "The model is busy."


async def test_succeed_and_fail_record_how_a_job_ended(
    queue: JobQueue, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    good, _ = await queue.enqueue(spec("F1"))
    clock.advance(1)  # claimed oldest first
    bad, _ = await queue.enqueue(spec("F2"))
    document_id = await add_document(sessions, good)
    held_good, held_bad = await queue.claim("w1"), await queue.claim("w1")
    assert held_good is not None and held_bad is not None

    await queue.succeed(held_good, document_id=document_id, summary="Indexed 3 pages.")
    await queue.fail(held_bad, "bad.pdf is password-protected; upload an unlocked copy.")

    done, failed = await queue.get(good.id), await queue.get(bad.id)
    assert done is not None and done.status == "done"
    assert done.document_id == document_id and done.summary == "Indexed 3 pages."
    assert failed is not None and failed.status == "failed"
    assert failed.error == "bad.pdf is password-protected; upload an unlocked copy."
    assert await queue.pending() == 0
    assert await queue.get("no-such-job") is None


async def test_a_worker_whose_lease_was_taken_over_cannot_update_the_job(
    queue: JobQueue, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    await queue.enqueue(spec())
    stalled = await queue.claim("w1")
    clock.advance(LEASE_S + 1)
    holder = await queue.claim("w2")
    assert stalled is not None and holder is not None
    document_id = await add_document(sessions, holder)

    for update in (
        queue.heartbeat(stalled),
        queue.succeed(stalled, document_id=document_id, summary="stale"),
        queue.fail(stalled, "stale"),
        queue.retry_later(stalled, "stale"),
    ):
        with pytest.raises(LeaseLost):
            await update
    assert await queue.release(stalled) is False

    current = await queue.get(holder.id)
    assert current is not None and current.status == "running" and current.attempts == 2
    assert current.lease == holder.lease != stalled.lease
    await queue.succeed(holder, document_id=document_id, summary="Indexed 1 page.")
    done = await queue.get(holder.id)
    assert done is not None and done.status == "done" and done.summary == "Indexed 1 page."


async def test_a_finished_job_refuses_a_second_finish_under_the_same_lease(
    queue: JobQueue,
) -> None:
    await queue.enqueue(spec())
    held = await queue.claim("w1")
    assert held is not None

    await queue.fail(held, "bad.pdf is corrupt.")

    with pytest.raises(LeaseLost):
        await queue.succeed(held, document_id="d", summary="late")
    failed = await queue.get(held.id)
    assert (
        failed is not None and failed.status == "failed" and failed.error == "bad.pdf is corrupt."
    )


# --- runner ----------------------------------------------------------------------------------


class RecordingHandler:
    """A JobHandler whose work is a given coroutine; it records every notification."""

    def __init__(self, work: Callable[[Job], Awaitable[tuple[str, str]]]) -> None:
        self.work = work
        self.notified: list[tuple[Job, JobOutcome]] = []
        self.fail_notify = False

    async def run(self, job: Job) -> tuple[str, str]:
        return await self.work(job)

    async def notify(self, job: Job, outcome: JobOutcome) -> None:
        self.notified.append((job, outcome))
        if self.fail_notify:
            raise ConnectionError("Slack is down")


def raising(error: BaseException) -> Callable[[Job], Awaitable[tuple[str, str]]]:
    async def work(job: Job) -> tuple[str, str]:
        raise error

    return work


async def test_a_successful_job_is_done_and_reported(
    queue: JobQueue, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async def work(job: Job) -> tuple[str, str]:
        return await add_document(sessions, job), "Indexed report.pdf: 0 pages."

    handler = RecordingHandler(work)
    job, _ = await queue.enqueue(spec())

    assert await JobRunner(queue=queue, handler=handler, worker_id="w1").run_once() is True

    [(reported, outcome)] = handler.notified
    assert outcome == JobOutcome(ok=True, message="Indexed report.pdf: 0 pages.")
    assert reported.id == job.id and reported.status == "done" and reported.document_id


async def test_a_folio_error_fails_the_job_with_its_user_message(queue: JobQueue) -> None:
    message = "report.pdf is password-protected; upload an unlocked copy."
    handler = RecordingHandler(raising(EncryptedDocument(message)))
    job, _ = await queue.enqueue(spec())

    await JobRunner(queue=queue, handler=handler, worker_id="w1").run_once()

    stored = await queue.get(job.id)
    assert stored is not None and stored.status == "failed" and stored.error == message
    assert [outcome for _, outcome in handler.notified] == [JobOutcome(ok=False, message=message)]


async def test_a_failed_job_logs_its_reason_at_warning_with_the_job_id(
    queue: JobQueue, caplog: pytest.LogCaptureFixture
) -> None:
    error = EncryptedDocument("report.pdf is password-protected.", detail="needs a password")
    job, _ = await queue.enqueue(spec())

    with caplog.at_level(logging.WARNING, logger="rag._jobs"):
        await JobRunner(
            queue=queue, handler=RecordingHandler(raising(error)), worker_id="w1"
        ).run_once()

    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert job.id in warning.getMessage() and "needs a password" in warning.getMessage()


@pytest.mark.parametrize(
    "error",
    [
        ModelUnavailable("The model is down."),
        IndexUnavailable("Qdrant is down."),
        DownloadUnavailable("Slack's file servers answered 503."),
    ],
)
async def test_a_transient_error_queues_the_job_again_quietly(
    queue: JobQueue, error: FolioError
) -> None:
    handler = RecordingHandler(raising(error))
    job, _ = await queue.enqueue(spec())

    await JobRunner(queue=queue, handler=handler, worker_id="w1").run_once()

    stored = await queue.get(job.id)
    assert stored is not None and stored.status == "queued" and stored.error == error.user_message
    assert handler.notified == []


async def test_a_transient_error_on_the_last_attempt_fails_and_reports(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    queue = JobQueue(sessions=sessions, max_attempts=1, clock=clock)
    handler = RecordingHandler(raising(ModelUnavailable("The model is down; try later.")))
    job, _ = await queue.enqueue(spec())

    await JobRunner(queue=queue, handler=handler, worker_id="w1").run_once()

    stored = await queue.get(job.id)
    assert stored is not None and stored.status == "failed"
    assert [o for _, o in handler.notified] == [JobOutcome(False, "The model is down; try later.")]


async def test_an_unexpected_error_is_logged_and_gets_an_apology(
    queue: JobQueue, caplog: pytest.LogCaptureFixture
) -> None:
    handler = RecordingHandler(raising(KeyError("internal detail")))
    job, _ = await queue.enqueue(spec())

    with caplog.at_level(logging.ERROR, logger="rag._jobs"):
        await JobRunner(queue=queue, handler=handler, worker_id="w1").run_once()

    stored = await queue.get(job.id)
    assert stored is not None and stored.status == "failed"
    assert "internal detail" not in (stored.error or "") and "report.pdf" in (stored.error or "")
    assert any(record.exc_info for record in caplog.records)
    [(_, outcome)] = handler.notified
    assert outcome.ok is False and outcome.message == stored.error


async def test_a_failing_notification_does_not_undo_the_work(
    queue: JobQueue, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async def work(job: Job) -> tuple[str, str]:
        return await add_document(sessions, job), "done"

    handler = RecordingHandler(work)
    handler.fail_notify = True
    job, _ = await queue.enqueue(spec())

    assert await JobRunner(queue=queue, handler=handler, worker_id="w1").run_once() is True

    stored = await queue.get(job.id)
    assert stored is not None and stored.status == "done"


async def test_a_cancelled_worker_hands_its_job_back(queue: JobQueue) -> None:
    started = asyncio.Event()

    async def work(job: Job) -> tuple[str, str]:
        started.set()
        await asyncio.Event().wait()  # never finishes on its own
        raise AssertionError("unreachable")

    job, _ = await queue.enqueue(spec())
    runner = JobRunner(queue=queue, handler=RecordingHandler(work), worker_id="w1")
    task = asyncio.create_task(runner.run_once())
    await asyncio.wait_for(started.wait(), timeout=5)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    back = await queue.get(job.id)
    assert back is not None and back.status == "queued" and back.attempts == 0
    again = await queue.claim("w2")
    assert again is not None and again.id == job.id


async def test_a_worker_that_lost_its_lease_stops_the_job_and_reports_nothing(
    queue: JobQueue, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    thief = JobQueue(sessions=sessions, lease_s=LEASE_S, clock=clock)
    taken: list[Job | None] = []
    reached_the_end: list[str] = []

    async def work(job: Job) -> tuple[str, str]:
        clock.advance(LEASE_S + 1)  # the worker stalls past its lease (no heartbeat runs)
        taken.append(await thief.claim("thief"))
        await clock.elapse(LEASE_S / 3)  # it wakes: the heartbeat is refused
        reached_the_end.append(job.id)
        return await add_document(sessions, job), "stale"

    handler = RecordingHandler(work)
    job, _ = await queue.enqueue(spec())
    runner = JobRunner(queue=queue, handler=handler, worker_id="w1", sleep=clock.sleep)

    assert await runner.run_once() is True

    [holder] = taken
    assert holder is not None and holder.id == job.id
    assert reached_the_end == [] and handler.notified == []
    current = await queue.get(job.id)
    assert current is not None and current.status == "running" and current.lease == holder.lease


async def test_a_worker_that_finishes_after_losing_its_lease_reports_nothing(
    queue: JobQueue, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    thief = JobQueue(sessions=sessions, lease_s=LEASE_S, clock=clock)

    async def work(job: Job) -> tuple[str, str]:
        clock.advance(LEASE_S + 1)  # stalled, and finished before its heartbeat woke
        assert await thief.claim("thief") is not None
        return await add_document(sessions, job), "stale"

    handler = RecordingHandler(work)
    job, _ = await queue.enqueue(spec())

    await JobRunner(queue=queue, handler=handler, worker_id="w1", sleep=clock.sleep).run_once()

    assert handler.notified == []
    current = await queue.get(job.id)
    assert current is not None and current.status == "running" and current.summary is None


async def test_on_stop_the_job_in_hand_finishes_within_the_grace_period(
    queue: JobQueue, sessions: async_sessionmaker[AsyncSession]
) -> None:
    stop = asyncio.Event()

    async def work(job: Job) -> tuple[str, str]:
        stop.set()  # SIGTERM arrives mid-job
        await asyncio.sleep(0.2)
        return await add_document(sessions, job), "finished in time"

    handler = RecordingHandler(work)
    job, _ = await queue.enqueue(spec())
    runner = JobRunner(queue=queue, handler=handler, worker_id="w1", poll_s=0.05, grace_s=10)

    await asyncio.wait_for(runner.run_forever(stop), timeout=10)

    done = await queue.get(job.id)
    assert done is not None and done.status == "done"
    assert [o.message for _, o in handler.notified] == ["finished in time"]


async def test_on_stop_a_job_past_the_grace_period_is_handed_back_unspent(
    queue: JobQueue,
) -> None:
    stop = asyncio.Event()

    async def work(job: Job) -> tuple[str, str]:
        stop.set()
        await asyncio.Event().wait()  # never finishes on its own
        raise AssertionError("unreachable")

    handler = RecordingHandler(work)
    job, _ = await queue.enqueue(spec())
    runner = JobRunner(queue=queue, handler=handler, worker_id="w1", poll_s=0.05, grace_s=0.2)

    await asyncio.wait_for(runner.run_forever(stop), timeout=10)

    back = await queue.get(job.id)
    assert back is not None and back.status == "queued" and back.attempts == 0
    assert back.lease is None and handler.notified == []


async def test_run_once_with_nothing_queued_returns_false(queue: JobQueue) -> None:
    handler = RecordingHandler(raising(AssertionError("no job should run")))

    assert await JobRunner(queue=queue, handler=handler, worker_id="w1").run_once() is False


async def test_abandoned_jobs_are_reported_as_failed(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    queue = JobQueue(sessions=sessions, lease_s=LEASE_S, max_attempts=1, clock=clock)
    job, _ = await queue.enqueue(spec(name="crashy.pdf"))
    await queue.claim("crashed-worker")
    clock.advance(LEASE_S + 1)
    handler = RecordingHandler(raising(AssertionError("no job should run")))

    await JobRunner(queue=queue, handler=handler, worker_id="w1").run_once()

    [(reported, outcome)] = handler.notified
    assert reported.id == job.id and outcome.ok is False and "crashy.pdf" in outcome.message


async def test_the_heartbeat_keeps_a_long_job_from_being_taken(
    queue: JobQueue, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    other = JobQueue(sessions=sessions, lease_s=LEASE_S, clock=clock)
    stolen: list[Job | None] = []

    async def work(job: Job) -> tuple[str, str]:
        # Two leases pass while the job works; without heartbeats the thief gets it at 1.5.
        for _ in range(4):
            await clock.elapse(LEASE_S / 2)
            stolen.append(await other.claim("thief"))
        return await add_document(sessions, job), "slow but done"

    handler = RecordingHandler(work)
    await queue.enqueue(spec())
    runner = JobRunner(queue=queue, handler=handler, worker_id="w1", sleep=clock.sleep)

    await runner.run_once()

    assert stolen == [None, None, None, None]
    assert [o.ok for _, o in handler.notified] == [True]


async def test_run_forever_drains_the_queue_until_stopped(
    queue: JobQueue, sessions: async_sessionmaker[AsyncSession]
) -> None:
    stop = asyncio.Event()
    all_reported = asyncio.Event()

    async def work(job: Job) -> tuple[str, str]:
        return await add_document(sessions, job), job.file_name

    class CountingHandler(RecordingHandler):
        async def notify(self, job: Job, outcome: JobOutcome) -> None:
            await super().notify(job, outcome)
            if len(self.notified) == 3:
                all_reported.set()

    handler = CountingHandler(work)
    for n in range(3):
        await queue.enqueue(spec(f"F{n}", name=f"f{n}.pdf"))
    runner = JobRunner(queue=queue, handler=handler, worker_id="w1", poll_s=0.05)

    task = asyncio.create_task(runner.run_forever(stop))
    await asyncio.wait_for(all_reported.wait(), timeout=10)
    stop.set()
    await asyncio.wait_for(task, timeout=5)

    assert sorted(o.message for _, o in handler.notified) == ["f0.pdf", "f1.pdf", "f2.pdf"]
    assert await queue.pending() == 0


# --- event pruning ---------------------------------------------------------------------------


async def test_the_worker_forgets_day_old_slack_events_at_most_once_an_hour(
    queue: JobQueue, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    events = EventLog(sessions=sessions, clock=clock)
    runner = JobRunner(
        queue=queue,
        handler=RecordingHandler(raising(AssertionError("no job"))),
        worker_id="w1",
        events=events,
        clock=lambda: clock.now.timestamp(),
    )
    await events.first_time("Ev-A", "T1")
    clock.advance(30 * 60)
    await events.first_time("Ev-B", "T1")
    clock.advance(EVENT_RETENTION.total_seconds() - 30 * 60 + 1)

    assert await runner.prune_events() == 1  # Ev-A is a day old, Ev-B not yet
    clock.advance(31 * 60)  # Ev-B is a day old now, but the last pruning was 31 minutes ago
    assert await runner.prune_events() == 0
    clock.advance(PRUNE_EVERY_S - 31 * 60)
    assert await runner.prune_events() == 1
    assert await events.first_time("Ev-B", "T1") is True  # forgotten, so new again


async def test_run_forever_prunes_old_events_between_jobs(
    queue: JobQueue, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    class WatchedEvents(EventLog):
        """The real EventLog, telling when the worker pruned it."""

        pruned = asyncio.Event()

        async def prune(self, older_than: timedelta) -> int:
            count = await super().prune(older_than)
            self.pruned.set()
            return count

    events = WatchedEvents(sessions=sessions, clock=clock)
    await events.first_time("Ev-old", "T1")
    clock.advance(EVENT_RETENTION.total_seconds() + 1)
    handler = RecordingHandler(raising(AssertionError("no job")))
    runner = JobRunner(queue=queue, handler=handler, worker_id="w1", poll_s=0.05, events=events)
    stop = asyncio.Event()

    task = asyncio.create_task(runner.run_forever(stop))
    await asyncio.wait_for(events.pruned.wait(), timeout=10)
    stop.set()
    await asyncio.wait_for(task, timeout=5)

    assert await events.first_time("Ev-old", "T1") is True
