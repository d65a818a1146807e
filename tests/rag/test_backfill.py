"""Backfills (a channel's existing files) and re-queued jobs, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rag._backfill import Backfills
from rag.db import BackfillLog, Catalog, Job, JobQueue, JobSpec
from rag.types import Document, Scope, SharedFile
from tests.fakes import database as db
from tests.fakes.database import FakeClock

postgres_url = db.postgres_url
database_url = db.database_url
engine = db.engine
sessions = db.sessions

SCOPE = Scope("T1", "C1", False)


@pytest.fixture
def queue(sessions: async_sessionmaker[AsyncSession]) -> JobQueue:
    return JobQueue(sessions=sessions, lease_s=60, max_attempts=3, clock=FakeClock())


def backfills(sessions: async_sessionmaker[AsyncSession], queue: JobQueue, limit: int = 10):
    return Backfills(
        jobs=queue,
        catalog=Catalog(sessions=sessions),
        log=BackfillLog(sessions=sessions),
        limit=limit,
    )


class Announcer:
    """Records each announcement and answers with a message ts."""

    def __init__(self) -> None:
        self.totals: list[int] = []

    async def __call__(self, total: int) -> str:
        self.totals.append(total)
        return f"100.{len(self.totals)}"


def shared(*names: str) -> list[SharedFile]:
    """Files newest first, ids F1, F2... in that order."""
    return [SharedFile(f"F{n}", name, "U1") for n, name in enumerate(names, 1)]


def share_spec(file_id: str, name: str = "a.pdf") -> JobSpec:
    return JobSpec("T1", "C1", False, name, file_id, "U1", message_ts="200.1")


async def test_the_newest_file_of_each_name_is_queued_and_announced_once(
    sessions: async_sessionmaker[AsyncSession], queue: JobQueue
):
    announce = Announcer()
    run = backfills(sessions, queue)

    started = await run.start(
        SCOPE, shared("q3.pdf", "deck.pptx", "Q3.PDF", "notes.md"), announce=announce
    )

    assert (started.listed, started.queued, started.limit) == (4, 3, 10)
    assert announce.totals == [3]
    progress = await run.progress(str(started.backfill_id))
    assert progress is not None
    assert (progress.total, progress.done, progress.failed, progress.message_ts) == (
        3,
        0,
        0,
        "100.1",
    )
    claimed = [await queue.claim("w") for _ in range(4)]
    assert sorted(j.slack_file_id or "" for j in claimed if j) == ["F1", "F2", "F4"]


async def test_only_the_newest_files_up_to_the_limit_are_read(
    sessions: async_sessionmaker[AsyncSession], queue: JobQueue
):
    started = await backfills(sessions, queue, limit=2).start(
        SCOPE, shared("a.pdf", "b.pdf", "c.pdf"), announce=Announcer()
    )

    assert (started.listed, started.queued) == (2, 2)


async def test_files_already_queued_or_indexed_are_skipped_and_nothing_is_announced(
    sessions: async_sessionmaker[AsyncSession], queue: JobQueue
):
    await queue.enqueue(share_spec("F1", "a.pdf"))
    announce = Announcer()

    started = await backfills(sessions, queue).start(SCOPE, shared("a.pdf"), announce=announce)

    assert (started.listed, started.queued, started.backfill_id) == (1, 0, None)
    assert announce.totals == []


async def test_failed_files_are_retried_when_asked_and_left_alone_on_a_restart(
    sessions: async_sessionmaker[AsyncSession], queue: JobQueue
):
    await queue.enqueue(share_spec("F1", "a.pdf"))
    job = await claimed(queue)
    await queue.fail(job, "a.pdf is corrupt.")

    restart = await backfills(sessions, queue).start(
        SCOPE, shared("a.pdf"), announce=Announcer(), retry_failed=False
    )
    asked = await backfills(sessions, queue).start(SCOPE, shared("a.pdf"), announce=Announcer())

    assert restart.queued == 0
    assert asked.queued == 1
    again = await queue.get(job.id)
    assert again is not None
    assert (again.status, again.attempts, again.error) == ("queued", 0, None)
    assert again.backfill_id == asked.backfill_id


async def claimed(queue: JobQueue) -> Job:
    """The next job, claimed as a worker would (job updates carry the claim's lease)."""
    job = await queue.claim("w")
    assert job is not None
    return job


async def record_document(sessions: async_sessionmaker[AsyncSession], name: str) -> str:
    document = Document(
        id=str(uuid.uuid4()),
        scope=SCOPE,
        file_name=name,
        content_hash=uuid.uuid4().hex,
        kind="pdf",
        page_count=1,
        figure_count=0,
        created_at=datetime.now(UTC),
    )
    await Catalog(sessions=sessions).add(document, [], b"%PDF", size_bytes=4)
    return document.id


async def test_a_failed_share_is_queued_again_but_a_done_one_only_when_it_changed(
    sessions: async_sessionmaker[AsyncSession], queue: JobQueue
):
    await queue.enqueue(share_spec("F1"))
    job = await claimed(queue)
    await queue.fail(job, "Slack sent a sign-in page.")

    retried, again = await queue.enqueue(
        JobSpec("T1", "C1", False, "a.pdf", "F1", "U1", message_ts="300.1")
    )
    document_id = await record_document(sessions, "a.pdf")
    await queue.succeed(await claimed(queue), document_id=document_id, summary="Indexed a.pdf")
    _, shared_again = await queue.enqueue(share_spec("F1"))
    changed, new_version = await queue.enqueue(
        JobSpec("T1", "C1", False, "a.pdf", "F1", "U1"), again=True
    )

    assert again and retried.id == job.id and retried.message_ts == "300.1"
    assert not shared_again
    assert new_version and changed.status == "queued"
    assert changed.message_ts is None  # an edit is indexed quietly: no share to answer


async def test_progress_counts_done_and_failed_jobs_and_names_the_failures(
    sessions: async_sessionmaker[AsyncSession], queue: JobQueue
):
    run = backfills(sessions, queue)
    started = await run.start(SCOPE, shared("a.pdf", "b.pdf", "c.pdf"), announce=Announcer())
    first, second = await queue.claim("w"), await queue.claim("w")
    assert first is not None and second is not None
    await queue.succeed(first, document_id=await record_document(sessions, "a.pdf"), summary="ok")
    await queue.fail(second, f"{second.file_name} is password-protected.")

    progress = await run.progress(str(started.backfill_id))

    assert progress is not None
    assert (progress.total, progress.done, progress.failed, progress.finished) == (3, 1, 1, False)
    assert progress.failures == ((second.file_name, f"{second.file_name} is password-protected."),)
