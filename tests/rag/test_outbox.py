"""The point outbox: workers write through it, the index owner applies it to a real Edge shard.

On SQLite, and on PostgreSQL when FOLIO_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rag._jobs import Job, JobQueue, JobRunner
from rag._outbox import OutboxApplier, OutboxIndex, OwnedIndex, point_body, point_from_body
from rag.db.outbox import PointOutbox, holding
from rag.db.workers import WorkerRegistry
from rag.errors import IndexBehind, LeaseLost
from rag.index import HybridQuery, IndexPoint
from rag.index.edge import EdgeIndex
from rag.types import Audience
from tests.fakes import database as db
from tests.fakes.database import FakeClock
from tests.rag.index.builders import DIMS, clip_vec, payload, point, sparse, text_vec
from tests.rag.test_jobs import RecordingHandler, spec

postgres_url = db.postgres_url
database_url = db.database_url
engine = db.engine
sessions = db.sessions

GENERATION = 1
HERE = Audience(team_id="T1", channel_id="C1")


def pages(document_id: str, count: int, *, text: str = "") -> list[IndexPoint]:
    """``count`` points of one document, each with all three vectors."""
    return [
        point(
            payload(document_id, page_number=n, text=text or f"{document_id} page {n}"),
            clip=clip_vec((n % 8, 1.0)),
            text=text_vec((n % 6, 1.0)),
            bm25=sparse(t1=1.0, t7=0.5),
        )
        for n in range(1, count + 1)
    ]


@pytest.fixture
async def edge(tmp_path: Path) -> AsyncIterator[EdgeIndex]:
    index = EdgeIndex(path=tmp_path / "qdrant")
    await index.open(DIMS)
    yield index
    await index.close()


@pytest.fixture
def outbox(sessions: async_sessionmaker[AsyncSession]) -> PointOutbox:
    return PointOutbox(sessions=sessions)


@pytest.fixture
async def writer(outbox: PointOutbox) -> OutboxIndex:
    index = OutboxIndex(outbox=outbox, generation_id=GENERATION)
    await index.open(DIMS)
    return index


@pytest.fixture
def applier(outbox: PointOutbox, edge: EdgeIndex) -> OutboxApplier:
    return OutboxApplier(outbox=outbox, index=edge, generation_id=GENERATION)


async def texts_of(edge: EdgeIndex, document_id: str) -> set[str]:
    hits = await edge.query(HybridQuery(HERE, bm25=sparse(t1=1.0), limit=100))
    return {hit.text for hit in hits if hit.document_id == document_id}


def test_a_point_survives_its_trip_through_json() -> None:
    [original] = pages("doc-a", 1)

    assert point_from_body(point_body(original)) == IndexPoint(
        id=original.id,
        payload=original.payload,
        clip=list(original.clip or ()),
        text=list(original.text or ()),
        bm25=original.bm25,
    )


def test_a_points_head_field_and_token_vectors_survive_the_trip_too() -> None:
    original = point(
        payload("doc-a"),
        text=text_vec((0, 1.0)),
        bm25=sparse(t1=1.0),
        bm25_head=sparse(t2=0.5),
        tokens=np.array([text_vec((1, 1.0)), text_vec((2, 1.0))], dtype=np.float16),
    )

    back = point_from_body(json.loads(json.dumps(point_body(original))))

    assert back.bm25_head == original.bm25_head
    assert back.tokens == [list(text_vec((1, 1.0))), list(text_vec((2, 1.0)))]


async def test_writes_are_applied_in_the_order_they_were_made_then_removed(
    writer: OutboxIndex, applier: OutboxApplier, edge: EdgeIndex, outbox: PointOutbox
) -> None:
    await writer.upsert(pages("doc-a", 5, text="first try"))
    await writer.delete_document("doc-a")
    await writer.upsert(pages("doc-a", 3, text="second try"))
    await writer.upsert(pages("doc-b", 2))
    assert await edge.count() == 0  # nothing reaches the index until the owner applies it
    assert await writer.count(document_id="doc-a") == 8

    assert await applier.apply() == 4

    assert await edge.count(document_id="doc-a") == 3
    assert await texts_of(edge, "doc-a") == {"second try"}
    assert await edge.count(document_id="doc-b") == 2
    assert await outbox.waiting() == 0
    assert await writer.count() == 0


async def test_a_crash_between_applying_and_removing_applies_the_same_writes_again_harmlessly(
    writer: OutboxIndex, applier: OutboxApplier, edge: EdgeIndex, outbox: PointOutbox
) -> None:
    await writer.upsert(pages("doc-a", 4, text="partial"))
    await writer.delete_document("doc-a")
    await writer.upsert(pages("doc-a", 6, text="complete"))
    unremoved = await outbox.head(GENERATION, 100)
    await applier.apply()
    applied = (await edge.count(), await texts_of(edge, "doc-a"))
    # The owner died after applying these and before deleting them: they are all still there.
    for entry in unremoved:
        await outbox.append(entry.generation_id, [entry.write])

    await applier.apply()

    assert (await edge.count(), await texts_of(edge, "doc-a")) == applied == (6, {"complete"})
    assert await outbox.waiting() == 0


async def test_a_worker_whose_lease_was_taken_over_writes_nothing(
    sessions: async_sessionmaker[AsyncSession],
    writer: OutboxIndex,
    applier: OutboxApplier,
    edge: EdgeIndex,
    outbox: PointOutbox,
) -> None:
    clock = FakeClock()
    queue = JobQueue(sessions=sessions, lease_s=60, clock=clock)
    await queue.enqueue(spec("F1"))
    stalled = await queue.claim("w1")
    assert stalled is not None
    with holding(stalled):
        await writer.upsert(pages("doc-a", 2, text="stalled"))  # while the lease was its own
    clock.advance(61)
    holder = await queue.claim("w2")
    assert holder is not None and holder.lease != stalled.lease

    with holding(stalled), pytest.raises(LeaseLost):
        await writer.delete_document("doc-a")
    with holding(holder):
        await writer.delete_document("doc-a")
        await writer.upsert(pages("doc-a", 3, text="holder"))
    with holding(stalled), pytest.raises(LeaseLost):
        await writer.upsert(pages("doc-a", 5, text="stalled"))
    await applier.apply()

    assert await edge.count(document_id="doc-a") == 3
    assert await texts_of(edge, "doc-a") == {"holder"}


async def test_the_owners_own_write_lands_after_the_workers_writes_before_it(
    writer: OutboxIndex, applier: OutboxApplier, edge: EdgeIndex
) -> None:
    owned = OwnedIndex(index=edge, applier=applier)
    # A worker that died mid-ingest left a delete and part of its points in the outbox;
    # the owner then indexed the same document itself.
    await writer.delete_document("doc-a")
    await writer.upsert(pages("doc-a", 2, text="dead worker"))

    await owned.delete_document("doc-a")
    await owned.upsert(pages("doc-a", 4, text="owner"))
    await applier.apply()

    assert await owned.count(document_id="doc-a") == 4
    assert await texts_of(edge, "doc-a") == {"owner"}


async def test_writes_for_an_older_generation_are_dropped_and_a_newer_ones_kept(
    outbox: PointOutbox, applier: OutboxApplier, edge: EdgeIndex
) -> None:
    for generation in (GENERATION - 1, GENERATION + 1):
        other = OutboxIndex(outbox=outbox, generation_id=generation)
        await other.open(DIMS)
        await other.upsert(pages(f"doc-{generation}", 2))

    assert await applier.apply() == 0

    assert await edge.count() == 0
    # The newer generation's owner applies its writes; the older generation was rebuilt.
    assert await outbox.waiting(document_id=f"doc-{GENERATION + 1}") == 1
    assert await outbox.waiting() == 1


async def test_channel_visibility_goes_through_the_outbox_too(
    writer: OutboxIndex, applier: OutboxApplier, edge: EdgeIndex
) -> None:
    await writer.upsert(pages("doc-a", 2))
    await writer.set_channel_visibility("T1", "C1", True)
    await applier.apply()

    elsewhere = Audience(team_id="T1", channel_id="C2")
    assert await edge.query(HybridQuery(elsewhere, bm25=sparse(t1=1.0))) == []
    assert len(await edge.query(HybridQuery(HERE, bm25=sparse(t1=1.0)))) == 2


async def test_a_worker_waits_until_its_documents_points_are_applied(
    outbox: PointOutbox, applier: OutboxApplier, edge: EdgeIndex
) -> None:
    sleeps: list[float] = []

    async def owner_applies_meanwhile(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:
            await applier.apply()

    writer = OutboxIndex(
        outbox=outbox, generation_id=GENERATION, sleep=owner_applies_meanwhile, poll_s=0.5
    )
    await writer.open(DIMS)
    await writer.upsert(pages("doc-a", 2))

    await writer.applied("doc-a")

    assert sleeps == [0.5, 0.5, 0.5]
    assert await edge.count(document_id="doc-a") == 2


async def test_a_worker_with_no_owner_gives_up_waiting_with_index_behind(
    outbox: PointOutbox,
) -> None:
    async def nobody_applies(seconds: float) -> None:
        return None

    writer = OutboxIndex(
        outbox=outbox, generation_id=GENERATION, sleep=nobody_applies, wait_s=2, poll_s=0.5
    )
    await writer.open(DIMS)
    await writer.upsert(pages("doc-a", 1))

    with pytest.raises(IndexBehind):
        await writer.applied("doc-a")
    await writer.applied("doc-b")  # nothing waits for it


async def test_a_job_whose_points_are_not_applied_is_handed_back_unspent_and_unreported(
    sessions: async_sessionmaker[AsyncSession], writer: OutboxIndex
) -> None:
    queue = JobQueue(sessions=sessions, lease_s=60)

    async def work(job: Job) -> tuple[str, str]:
        await writer.upsert(pages("doc-a", 2))
        return "doc-a", "Indexed report.pdf: 2 pages"

    async def behind(document_id: str) -> None:
        raise IndexBehind(detail="no owner")

    handler = RecordingHandler(work)
    job, _ = await queue.enqueue(spec("F1"))
    runner = JobRunner(queue=queue, handler=handler, worker_id="w1", applied=behind)

    assert await runner.run_once() is True

    again = await queue.get(job.id)
    assert again is not None
    assert (again.status, again.attempts, again.lease) == ("queued", 0, None)
    assert handler.notified == []
    assert await queue.claim("w1") is None  # held back for a while, then claimable again


async def test_live_workers_are_the_ones_that_beat_recently(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = FakeClock()
    registry = WorkerRegistry(sessions=sessions, live_s=30, clock=clock)
    await registry.beat("host:1")
    await registry.beat("host:2")
    clock.advance(20)
    await registry.beat("host:2")
    assert await registry.live() == 2

    clock.advance(15)
    assert await registry.live() == 1  # host:1 went silent (SIGKILL leaves no goodbye)
    await registry.leave("host:2")
    assert await registry.live() == 0


async def test_a_job_runner_steps_aside_while_workers_run(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    queue = JobQueue(sessions=sessions, lease_s=60)
    await queue.enqueue(spec("F1"))
    handler = RecordingHandler(_never)

    async def aside() -> bool:
        return True

    runner = JobRunner(queue=queue, handler=handler, worker_id="serve", step_aside=aside)

    assert await runner.run_once() is False
    assert await queue.pending() == 1


async def _never(job: Job) -> tuple[str, str]:
    raise AssertionError("a runner stepping aside claimed a job")
