"""Qdrant Edge specifics: durability on disk and one process per shard."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from rag.errors import IndexUnavailable, StoreLocked
from rag.index import HybridQuery, IndexPoint
from rag.index.edge import EdgeIndex
from rag.types import Audience
from tests.rag.index.builders import DIMS, clip_vec, payload, point, sparse, text_vec

HERE = Audience(team_id="T1", channel_id="C1")


async def test_points_survive_close_and_reopen(tmp_path: Path) -> None:
    first = EdgeIndex(path=tmp_path / "qdrant")
    await first.open(DIMS)
    stored = point(payload("kept"), clip=clip_vec((2, 1.0)), bm25=sparse(t3=1.0))
    await first.upsert([stored, point(payload("gone"), clip=clip_vec((2, 1.0)))])
    await first.delete_document("gone")
    await first.close()

    again = EdgeIndex(path=tmp_path / "qdrant")
    await again.open(DIMS)
    try:
        hits = await again.query(HybridQuery(HERE, clip=(clip_vec((2, 1.0)),), bm25=sparse(t3=1.0)))
        assert [hit.point_id for hit in hits] == [stored.id]
        assert await again.count() == 1
    finally:
        await again.close()


async def test_a_second_index_on_an_open_shard_raises_store_locked(tmp_path: Path) -> None:
    first = EdgeIndex(path=tmp_path / "qdrant")
    await first.open(DIMS)
    try:
        with pytest.raises(StoreLocked) as raised:
            await EdgeIndex(path=tmp_path / "qdrant").open(DIMS)
    finally:
        await first.close()

    assert str(tmp_path / "qdrant") in raised.value.user_message
    assert "QDRANT_URL" in raised.value.user_message
    later = EdgeIndex(path=tmp_path / "qdrant")
    await later.open(DIMS)
    await later.close()


async def test_a_closed_index_raises_index_unavailable(tmp_path: Path) -> None:
    index = EdgeIndex(path=tmp_path / "qdrant")
    await index.open(DIMS)
    await index.close()
    await index.close()

    with pytest.raises(IndexUnavailable):
        await index.query(HybridQuery(HERE, text=text_vec((0, 1.0))))
    with pytest.raises(IndexUnavailable):
        await index.count()


async def test_a_data_dir_that_is_a_file_gets_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "qdrant"
    blocker.write_text("not a directory")

    with pytest.raises(IndexUnavailable) as raised:
        await EdgeIndex(path=blocker).open(DIMS)

    assert "cannot open its vector store" in raised.value.user_message


async def test_optimize_keeps_every_point_findable(tmp_path: Path) -> None:
    index = EdgeIndex(path=tmp_path / "qdrant")
    await index.open(DIMS)
    try:
        points = [
            point(payload(f"d{i}"), clip=clip_vec((i % 8, 1.0), ((i + 1) % 8, i / 100)))
            for i in range(300)
        ]
        await index.upsert(points)
        await index.delete_document("d0")

        await index.optimize()

        assert await index.count() == 299
        hits = await index.query(HybridQuery(HERE, clip=(clip_vec((1, 1.0), (2, 0.01)),), limit=1))
        assert [hit.document_id for hit in hits] == ["d1"]
    finally:
        await index.close()


def spread(prefix: str, count: int) -> list[IndexPoint]:
    return [
        point(payload(f"{prefix}{i}"), clip=clip_vec((i % 8, 1.0), ((i + 1) % 8, i / 100)))
        for i in range(count)
    ]


def names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


async def snapshot_taken(index: EdgeIndex, running: asyncio.Task[bool]) -> None:
    """Wait until the optimize has copied the shard and records writes for the swap."""
    while index._journal is None and not running.done():  # noqa: ASYNC110 - no event to wait on
        await asyncio.sleep(0.01)


async def test_writes_during_a_background_optimize_are_kept_by_the_swapped_in_copy(
    tmp_path: Path,
) -> None:
    index = EdgeIndex(path=tmp_path / "qdrant", optimize_after=None)
    await index.open(DIMS)
    try:
        await index.upsert(spread("d", 300))
        running = asyncio.create_task(index.optimize())
        # After the snapshot these writes land in the live shard only and must be
        # replayed onto the optimized copy.
        await snapshot_taken(index, running)
        assert index.optimizing
        await index.upsert(spread("late", 3))
        await index.delete_document("d0")
        hits = await index.query(HybridQuery(HERE, clip=(clip_vec((1, 1.0), (2, 0.01)),)))
        assert hits  # answers go on during the optimize

        assert await running
        assert not index.optimizing
        assert await index.count() == 302
        assert await index.count(document_id="late2") == 1
    finally:
        await index.close()
    assert names(tmp_path) == ["qdrant-opt1", "qdrant.current"]

    again = EdgeIndex(path=tmp_path / "qdrant")
    await again.open(DIMS)
    try:
        assert await again.count() == 302
        assert await again.count(document_id="d0") == 0
    finally:
        await again.close()


async def test_enough_changed_points_start_an_optimize_by_themselves(tmp_path: Path) -> None:
    index = EdgeIndex(path=tmp_path / "qdrant", optimize_after=100)
    await index.open(DIMS)
    try:
        await index.upsert(spread("d", 50))
        assert not index.optimizing
        await index.upsert(spread("e", 60))
        assert index.optimizing
        assert await index.optimize()  # waits for the run already going
        assert await index.count() == 110
    finally:
        await index.close()
    assert (tmp_path / "qdrant.current").read_text() == "qdrant-opt1"


async def test_closing_during_an_optimize_keeps_the_live_shard_and_clears_the_copy(
    tmp_path: Path,
) -> None:
    index = EdgeIndex(path=tmp_path / "qdrant", optimize_after=None)
    await index.open(DIMS)
    await index.upsert(spread("d", 200))
    running = asyncio.create_task(index.optimize())
    await snapshot_taken(index, running)
    await index.close()
    assert running.done()
    assert names(tmp_path) == ["qdrant"]

    again = EdgeIndex(path=tmp_path / "qdrant")
    await again.open(DIMS)
    try:
        assert await again.count() == 200
    finally:
        await again.close()


def test_another_generations_store_beside_the_shard_is_never_taken_for_a_stale_copy(
    tmp_path: Path,
) -> None:
    from rag.index import _edge_gens

    root = tmp_path / "qdrant"
    # A model generation's own store ("-g" + hex that happens to be all digits) and its
    # optimized copy, beside this shard's live dir and a stale copy of it.
    for name in ("qdrant", "qdrant-opt1", "qdrant-g65076227", "qdrant-g65076227-opt1"):
        (tmp_path / name).mkdir()
    assert _edge_gens.stale_dirs(root) == [tmp_path / "qdrant-opt1"]
    assert _edge_gens.stale_dirs(tmp_path / "qdrant-g65076227") == [
        tmp_path / "qdrant-g65076227-opt1"
    ]


def optimizer_children() -> list[int]:
    """Pids of this process's children that run Edge's optimizers (read from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if parent == os.getpid() and b"optimize()" in command:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads children from /proc")
async def test_an_optimize_started_by_writes_runs_in_a_child_while_searches_answer(
    tmp_path: Path,
) -> None:
    index = EdgeIndex(path=tmp_path / "qdrant", optimize_after=400)
    await index.open(DIMS)
    try:
        await index.upsert(spread("d", 399))
        assert not index.optimizing
        await index.delete_document("d5")  # deletes count as changes too
        assert index.optimizing
        answered_beside_child = 0
        while index.optimizing:
            hits = await index.query(HybridQuery(HERE, clip=(clip_vec((3, 1.0)),), limit=3))
            assert hits
            # The optimizer lives in another process (its own GIL), and a search answered
            # while it was alive did not wait for it.
            answered_beside_child += bool(optimizer_children())
            await asyncio.sleep(0.005)
        assert answered_beside_child > 0
        assert await index.count() == 398
    finally:
        await index.close()
    assert (tmp_path / "qdrant.current").read_text() == "qdrant-opt1"
