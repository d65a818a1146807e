"""run_isolated: a real child process, killed at its limits, its failures translated."""

from __future__ import annotations

import asyncio
import functools
import os
import tempfile
import time
from pathlib import Path

import pytest

from rag.errors import CorruptDocument, EncryptedDocument, ParseCrashed, ParseTimeout
from rag.ingest._child import INGEST_NICE
from rag.ingest._isolate import run_isolated
from tests.fakes import child_tasks


@pytest.fixture(autouse=True)
def private_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Isolation work directories go here, so a test can see that none is left over."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def leftovers(tmp: Path) -> list[str]:
    return [p.name for p in tmp.iterdir() if p.name.startswith("folio-isolate-")]


def process_exists(pid: int) -> bool:
    # A zombie still answers signal 0, so this is also a check that the child was reaped.
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def read_pid(path: Path) -> int | None:
    text = path.read_text() if path.exists() else ""
    return int(text) if text else None


async def wait_for_pid(path: Path, timeout_s: float = 10.0) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pid = read_pid(path)
        if pid is not None:
            return pid
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} never appeared")


async def test_the_result_comes_back_from_the_child(private_tempdir: Path) -> None:
    assert await run_isolated(child_tasks.add, 2, 3, timeout_s=30, memory_mb=512, label="x") == 5
    assert leftovers(private_tempdir) == []


async def test_a_large_result_comes_back_whole() -> None:
    data = os.urandom(24 * 1024 * 1024)
    echoed = await run_isolated(
        child_tasks.echo_bytes, data, timeout_s=60, memory_mb=1024, label="big.pdf"
    )
    assert echoed == data


async def test_a_function_that_never_returns_is_stopped_at_its_limit(
    private_tempdir: Path,
) -> None:
    started = time.monotonic()
    with pytest.raises(ParseTimeout) as caught:
        await run_isolated(child_tasks.sleep_forever, timeout_s=1.5, memory_mb=512, label="q3.pdf")
    elapsed = time.monotonic() - started
    # The child sleeps forever: any bound proves it was killed; a loose one survives a busy CI.
    assert 1.5 <= elapsed < 20.0
    assert caught.value.user_message == (
        "q3.pdf took longer than 1.5 s to read and was stopped; try a smaller or simpler file."
    )
    assert leftovers(private_tempdir) == []


async def test_a_stopped_child_is_killed_and_reaped(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid.txt"
    with pytest.raises(ParseTimeout):
        await run_isolated(
            child_tasks.write_pid_and_sleep,
            str(pid_file),
            timeout_s=3,
            memory_mb=512,
            label="slow.pdf",
        )
    pid = read_pid(pid_file)
    assert pid is not None
    assert not process_exists(pid)


async def test_cancelling_the_caller_kills_the_child_and_cleans_up(
    tmp_path: Path, private_tempdir: Path
) -> None:
    pid_file = tmp_path / "pid.txt"
    task = asyncio.create_task(
        run_isolated(
            child_tasks.write_pid_and_sleep,
            str(pid_file),
            timeout_s=60,
            memory_mb=512,
            label="slow.pdf",
        )
    )
    pid = await wait_for_pid(pid_file)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not process_exists(pid)
    assert leftovers(private_tempdir) == []


async def test_the_event_loop_keeps_running_while_the_child_works() -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    ticker = asyncio.create_task(tick())
    with pytest.raises(ParseTimeout):
        await run_isolated(child_tasks.sleep_forever, timeout_s=1.0, memory_mb=512, label="x")
    ticker.cancel()
    assert ticks >= 10


async def test_a_child_that_aborts_raises_parse_crashed(private_tempdir: Path) -> None:
    with pytest.raises(ParseCrashed) as caught:
        await run_isolated(child_tasks.abort, timeout_s=30, memory_mb=512, label="q3.pdf")
    assert "q3.pdf" in caught.value.user_message
    assert caught.value.detail == "killed by SIGABRT"
    assert leftovers(private_tempdir) == []


async def test_a_child_that_exits_without_a_result_raises_parse_crashed() -> None:
    with pytest.raises(ParseCrashed) as caught:
        await run_isolated(child_tasks.exit_with, 3, timeout_s=30, memory_mb=512, label="a.pdf")
    assert "a.pdf" in caught.value.user_message
    assert caught.value.detail == "exited with status 3 without a result"


async def test_allocating_past_the_memory_limit_raises_parse_crashed() -> None:
    with pytest.raises(ParseCrashed) as caught:
        await run_isolated(
            child_tasks.allocate, 2048, timeout_s=30, memory_mb=300, label="bomb.pdf"
        )
    assert caught.value.user_message == (
        "bomb.pdf needed more than 300 MB of memory to read and was stopped; "
        "try a smaller or simpler file."
    )


async def test_the_memory_limit_leaves_room_for_ordinary_work() -> None:
    allocated = await run_isolated(child_tasks.allocate, 64, timeout_s=30, memory_mb=300, label="x")
    assert allocated == 64 * 1024 * 1024


async def test_a_folio_error_arrives_with_its_class_and_message() -> None:
    with pytest.raises(EncryptedDocument) as caught:
        await run_isolated(
            child_tasks.raise_encrypted,
            "r.pdf is password-protected; upload an unlocked copy.",
            timeout_s=30,
            memory_mb=512,
            label="r.pdf",
        )
    assert caught.value.user_message == "r.pdf is password-protected; upload an unlocked copy."
    assert caught.value.detail == "raised in the child"


async def test_any_other_exception_becomes_corrupt_document() -> None:
    with pytest.raises(CorruptDocument) as caught:
        await run_isolated(child_tasks.raise_key_error, timeout_s=30, memory_mb=512, label="k.pdf")
    assert "k.pdf" in caught.value.user_message
    assert caught.value.detail == "KeyError: 'no such thing'"


async def test_the_child_does_not_see_the_parents_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-not-for-parsers")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-for-parsers")
    env = await run_isolated(child_tasks.environment, timeout_s=30, memory_mb=512, label="x")
    assert "SLACK_BOT_TOKEN" not in env
    assert "OPENAI_API_KEY" not in env


async def test_parsing_in_the_child_imports_neither_torch_nor_a_layout_model() -> None:
    modules = await run_isolated(
        child_tasks.modules_after_parsing, timeout_s=60, memory_mb=2048, label="x"
    )
    assert "pymupdf" in modules
    heavy = {"torch", "transformers", "onnxruntime", "pymupdf.layout", "numpy", "sqlalchemy"}
    assert heavy.isdisjoint(modules)


async def test_a_partial_function_runs_too() -> None:
    add_two = functools.partial(child_tasks.add, 2)
    assert await run_isolated(add_two, 40, timeout_s=30, memory_mb=512, label="x") == 42


async def test_the_child_runs_at_a_lower_cpu_priority_than_the_bot() -> None:
    # os.nice(0) reads the niceness; ingest children yield the CPU to the serving process.
    niceness = await run_isolated(os.nice, 0, timeout_s=30, memory_mb=512, label="x")
    assert niceness == min(19, os.nice(0) + INGEST_NICE)


async def test_a_batch_parses_at_its_own_priority() -> None:
    # `folio ingest` embeds in-process: its parse children are as much its work.
    niceness = await run_isolated(os.nice, 0, timeout_s=30, memory_mb=512, label="x", nice=0)
    assert niceness == os.nice(0)
