"""Two `folio worker` processes and one `folio serve` on PostgreSQL, with one worker SIGKILLed.

The embedded index belongs to `folio serve`; the workers write their points to the point
outbox in the database, and serve applies them. 200 files are shared through the fake Slack's
Events API (signed HTTP requests to serve), one worker is killed while it holds a job, and
every file must end indexed once, with its points searchable and one confirmation in its
thread.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from rag import Settings, open_services
from rag.db import create_engine, session_factory, upgrade_database
from rag.db.models import IngestionJobRow
from rag.db.outbox import PointOutbox
from rag.types import Audience
from tests.bot.harness import DOCS_CHANNEL, pdf_bytes
from tests.fakes.database import postgres_base_url, throwaway_postgres_database
from tests.fakes.net import free_port, until_ok
from tests.fakes.processes import SECRET, FolioProcess, folio_env
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_payloads import event_callback, event_request, file_share_message_event

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(1500),
    pytest.mark.skipif(
        postgres_base_url() is None,
        reason="two processes need a shared database: set FOLIO_TEST_DATABASE_URL",
    ),
]

FILES = 200
LEASE_S = 5
KILL_AFTER = 40  # confirmations before one worker is killed
DONE_WITHIN_S = 1200


@pytest.fixture
def database_url() -> Iterator[str]:
    base = postgres_base_url()
    assert base is not None
    with throwaway_postgres_database(base) as url:
        upgrade_database(url)
        yield url


async def test_two_workers_and_serve_index_200_files_once_though_one_worker_is_killed(
    fake_slack: FakeSlack,
    tmp_path: Path,
    database_url: str,
    tiny_clip_dir: Path,
    minilm_dir: Path,
    processes: list[FolioProcess],
) -> None:
    port = free_port()

    def env(name: str, **extra: str) -> dict[str, str]:
        return folio_env(
            api_url=fake_slack.api_url,
            data_dir=tmp_path / name,
            database_url=database_url,
            clip_dir=tiny_clip_dir,
            text_dir=minilm_dir,
            index_channels=DOCS_CHANNEL,
            FOLIO_JOB_LEASE_S=str(LEASE_S),
            FOLIO_SHUTDOWN_GRACE_S="5",
            **extra,
        )

    async def start(command: str, name: str, **extra: str) -> FolioProcess:
        process = await FolioProcess.start(command, env(name, **extra), tmp_path / f"{name}.log")
        processes.append(process)
        return process

    serve = await start("serve", "serve", PORT=str(port))
    await until_ok(f"http://127.0.0.1:{port}/healthz", timeout_s=180)
    doomed, survivor = await start("worker", "w1"), await start("worker", "w2")
    for worker in (doomed, survivor):
        await worker.wait_for_log(f":{worker.pid} started", 180)

    shares = await share_files(fake_slack, port)
    await fake_slack.until(
        lambda: len(confirmations(fake_slack, shares)) >= KILL_AFTER or None,
        DONE_WITHIN_S,
        lambda: f"{len(confirmations(fake_slack, shares))} confirmations",
    )
    await until_holding_a_job(doomed)
    doomed.signal(signal.SIGKILL)
    await doomed.wait(30)
    await fake_slack.until(
        lambda: len(confirmations(fake_slack, shares)) >= FILES or None,
        DONE_WITHIN_S,
        lambda: f"{len(confirmations(fake_slack, shares))} of {FILES} confirmed",
    )
    await asyncio.sleep(LEASE_S)  # a second confirmation would come within a lease
    for process in (survivor, serve):
        process.signal(signal.SIGTERM)
    assert await survivor.wait(60) == 0 and await serve.wait(60) == 0

    replies = confirmations(fake_slack, shares)
    assert sorted(replies) == sorted(shares.values())  # one per file, the file's own name
    assert all(fake_slack.reactions[(DOCS_CHANNEL, ts)] == ["white_check_mark"] for ts in shares)
    statuses, resumed = await job_outcomes(database_url)
    assert statuses == {"done": FILES}
    assert resumed >= 1  # the killed worker's job, finished by the other one
    settings = Settings.from_env(env("serve"))
    async with open_services(settings) as services:
        documents = await services.catalog.visible(Audience(fake_slack.team_id, DOCS_CHANNEL))
        assert sorted(d.file_name for d in documents) == sorted(shares.values())
        counts = [await services.index.count(document_id=d.id) for d in documents]
        clean = await services.ingestor.reindex(documents[0])  # a clean rebuild's count
        assert counts == [clean] * FILES
        assert await services.index.count() == clean * FILES
        assert await PointOutbox(sessions=session_factory(services.engine)).waiting() == 0


async def share_files(fake: FakeSlack, port: int) -> dict[str, str]:
    """Share FILES one-page PDFs in the docs channel through serve; message ts -> file name."""
    shares: dict[str, str] = {}
    async with aiohttp.ClientSession() as http:
        for n in range(FILES):
            name = f"invoice-{n:03d}.pdf"
            data = pdf_bytes([f"Invoice {n}: the amount due is {n * 7} euros by March."])
            info = fake.add_file(f"F0INV{n:03d}", name, data, "application/pdf")
            share = file_share_message_event([info], channel=DOCS_CHANNEL)
            raw, headers = event_request(event_callback(share), SECRET)
            url = f"http://127.0.0.1:{port}/slack/events"
            async with http.post(url, data=raw, headers=headers) as acked:
                assert acked.status == 200
            shares[str(share["ts"])] = name
    return shares


def confirmations(fake: FakeSlack, shares: dict[str, str]) -> list[str]:
    """The file name each "Indexed …" reply in a shared file's thread names."""
    names = []
    for call in fake.calls("chat.postMessage"):
        text, thread = str(call.params.get("text")), call.params.get("thread_ts")
        if thread in shares and text.startswith("Indexed "):
            names.append(text.removeprefix("Indexed ").split(":")[0])
    return names


async def until_holding_a_job(worker: FolioProcess) -> None:
    """Wait until the worker's last word is a claim: it is in the middle of a job."""
    async with asyncio.timeout(120):
        while True:
            log = worker.log_text()
            if log.rfind(" claimed job ") > max(log.rfind(" done: document "), 0):
                return
            await asyncio.sleep(0.05)


async def job_outcomes(database_url: str) -> tuple[dict[str, int], int]:
    """How many jobs ended in each status, and how many took a second attempt."""
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            statuses = select(IngestionJobRow.status, func.count()).group_by(IngestionJobRow.status)
            counted = {str(status): int(n) for status, n in (await session.execute(statuses))}
            again = select(func.count()).where(IngestionJobRow.attempts >= 2)
            return counted, int(await session.scalar(again) or 0)
    finally:
        await engine.dispose()
