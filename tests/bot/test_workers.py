"""How `folio serve` tells people whether any `folio worker` runs: at start, and in status."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.cli import NO_WORKER, say_if_no_worker
from bot.render import status_message
from rag import Fleet, Settings
from rag.db import create_engine, session_factory
from rag.db.workers import WorkerRegistry
from rag.types import Status, VectorStore
from tests.bot.harness import Bot
from tests.fakes.database import migrated_sqlite_url


def status(store: VectorStore, workers: int | None) -> str:
    shown = Status(
        documents=3,
        pages=9,
        pending_jobs=2,
        indexing="on",
        followups=False,
        answer_model=None,
        vector_store=store,
        workers=workers,
    )
    return status_message(shown).text


def test_status_warns_that_files_wait_when_no_worker_runs_beside_a_qdrant_server() -> None:
    assert "No `folio worker` is running: shared files wait in the queue" in status("server", 0)
    assert "Workers running: 2" in status("server", 2)
    assert "none; this process indexes shared files itself" in status("embedded", 0)
    assert "Workers running" not in status("server", None)


async def test_serve_with_a_qdrant_server_says_at_start_when_no_worker_runs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine(migrated_sqlite_url(tmp_path))
    registry = WorkerRegistry(sessions=session_factory(engine), live_s=30)
    fleet = Fleet(registry=registry, beat_s=10)
    server = Settings.from_env({"QDRANT_URL": "http://qdrant:6333"})
    embedded = Settings.from_env({})
    try:
        with caplog.at_level(logging.WARNING, logger="bot.cli"):
            await say_if_no_worker(server, fleet)
            assert [r.getMessage() for r in caplog.records] == [NO_WORKER]
            caplog.clear()
            await say_if_no_worker(embedded, fleet)  # serve indexes itself: nothing to say
            await registry.beat("host:1")
            await say_if_no_worker(server, fleet)
            assert caplog.records == []
    finally:
        await engine.dispose()


async def test_folio_status_counts_the_running_workers(http_bot: Bot) -> None:
    await http_bot.command("status")
    await http_bot.fake.until(lambda: len(http_bot.ephemerals()) == 1 or None, 10, lambda: "")
    registry = WorkerRegistry(sessions=session_factory(http_bot.services.engine))
    await registry.beat("host:1")
    await registry.beat("host:2")
    await http_bot.command("status")
    await http_bot.fake.until(lambda: len(http_bot.ephemerals()) == 2 or None, 10, lambda: "")

    alone, beside_workers = http_bot.ephemerals()
    assert "Workers running: none; this process indexes shared files itself" in alone
    assert "Workers running: 2" in beside_workers
