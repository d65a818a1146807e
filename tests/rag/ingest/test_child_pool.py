"""ChildPool: long-lived isolated children, reused between calls, replaced when they fail."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rag.errors import CorruptDocument, EncryptedDocument, ParseCrashed, ParseTimeout
from rag.ingest._isolate import ChildPool
from tests.fakes import child_tasks
from tests.rag.ingest.test_isolate import process_exists, wait_for_pid


@pytest.fixture
async def pool() -> AsyncIterator[ChildPool]:
    pool = ChildPool(size=2, memory_mb=1024)
    yield pool
    await pool.close()


async def test_a_child_answers_many_calls(pool: ChildPool) -> None:
    first = await pool.run(child_tasks.pid, timeout_s=30, label="x")
    assert await pool.run(child_tasks.add, 2, 3, timeout_s=30, label="x") == 5
    assert await pool.run(child_tasks.pid, timeout_s=30, label="x") == first != os.getpid()


async def test_large_arguments_and_results_travel_whole(pool: ChildPool) -> None:
    data = os.urandom(12 * 1024 * 1024)
    assert await pool.run(child_tasks.echo_bytes, data, timeout_s=60, label="x") == data


async def test_prints_in_the_child_do_not_corrupt_replies(pool: ChildPool) -> None:
    assert await pool.run(child_tasks.print_and_return, "kept", timeout_s=30, label="x") == "kept"
    assert await pool.run(child_tasks.add, 1, 1, timeout_s=30, label="x") == 2


async def test_a_call_past_its_deadline_kills_the_child_and_the_next_gets_a_new_one(
    pool: ChildPool, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    with pytest.raises(ParseTimeout) as caught:
        await asyncio.gather(
            pool.run(child_tasks.write_pid_and_sleep, str(pid_file), timeout_s=3, label="p. 4"),
            wait_for_pid(pid_file),
        )
    assert "p. 4 took longer than 3 s" in caught.value.user_message
    stuck = int(pid_file.read_text())
    assert not process_exists(stuck)
    assert await pool.run(child_tasks.pid, timeout_s=30, label="x") != stuck


async def test_a_crash_is_reported_and_the_pool_recovers(pool: ChildPool) -> None:
    with pytest.raises(ParseCrashed) as caught:
        await pool.run(child_tasks.abort, timeout_s=30, label="x")
    assert caught.value.detail == "killed by SIGABRT"
    assert await pool.run(child_tasks.add, 1, 2, timeout_s=30, label="x") == 3


async def test_errors_keep_their_class_and_the_child_stays(pool: ChildPool) -> None:
    before = await pool.run(child_tasks.pid, timeout_s=30, label="x")
    with pytest.raises(EncryptedDocument) as caught:
        await pool.run(child_tasks.raise_encrypted, "locked", timeout_s=30, label="x")
    assert caught.value.user_message == "locked"
    with pytest.raises(CorruptDocument):
        await pool.run(child_tasks.raise_key_error, timeout_s=30, label="x")
    assert await pool.run(child_tasks.pid, timeout_s=30, label="x") == before


async def test_the_memory_limit_holds_in_a_pool_child(pool: ChildPool) -> None:
    with pytest.raises(ParseCrashed) as caught:
        await pool.run(child_tasks.allocate, 2048, timeout_s=60, label="big.pdf")
    assert "big.pdf needed more than 1024 MB" in caught.value.user_message


async def test_a_cancelled_call_kills_its_child(pool: ChildPool, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    call = asyncio.ensure_future(
        pool.run(child_tasks.write_pid_and_sleep, str(pid_file), timeout_s=60, label="x")
    )
    stuck = await wait_for_pid(pid_file)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert not process_exists(stuck)


async def test_calls_run_side_by_side_up_to_the_pool_size(pool: ChildPool) -> None:
    pids = await asyncio.gather(
        *(pool.run(child_tasks.pid, timeout_s=30, label="x") for _ in range(6))
    )
    assert 1 <= len(set(pids)) <= 2


async def test_close_stops_every_child(tmp_path: Path) -> None:
    pool = ChildPool(size=2, memory_mb=1024)
    pids = set(
        await asyncio.gather(
            *(pool.run(child_tasks.pid, timeout_s=30, label="x") for _ in range(2))
        )
    )
    await pool.close()
    assert pids and not any(process_exists(pid) for pid in pids)


async def test_a_pool_runs_its_children_at_its_niceness(pool: ChildPool) -> None:
    niced = ChildPool(size=1, memory_mb=1024, nice=5)
    try:
        assert await niced.run(os.nice, 0, timeout_s=30, label="x") == min(19, os.nice(0) + 5)
    finally:
        await niced.close()
    assert await pool.run(os.nice, 0, timeout_s=30, label="x") == os.nice(0)  # renders: as is


async def test_renice_lowers_the_running_child_and_the_next(pool: ChildPool) -> None:
    # `folio ingest` parses at full priority while it loads the models, then behind them.
    batch = ChildPool(size=1, memory_mb=1024)
    try:
        first = await batch.run(child_tasks.pid, timeout_s=30, label="x")
        assert await batch.run(os.nice, 0, timeout_s=30, label="x") == os.nice(0)
        batch.renice(4)
        assert await batch.run(child_tasks.pid, timeout_s=30, label="x") == first
        assert await batch.run(os.nice, 0, timeout_s=30, label="x") == min(19, os.nice(0) + 4)
        await batch.close()
        assert await batch.run(os.nice, 0, timeout_s=30, label="x") == min(19, os.nice(0) + 4)
    finally:
        await batch.close()
