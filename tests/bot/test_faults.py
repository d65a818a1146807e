"""Faults injected into real `folio worker` processes: paused past the lease, SIGTERM, SIGKILL.

Each test starts the workers as child processes against the fake Slack and one database they
share (PostgreSQL when FOLIO_TEST_DATABASE_URL is set, else a SQLite file), queues jobs the way
the bot does, then stops, pauses or kills a process and checks what Slack and the queue saw.
The workers write their points through the database's point outbox; a `folio serve` owns the
embedded index and applies them (and indexes itself while no worker runs).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from rag import JobQueue, JobSpec, Settings, open_services
from rag.db import create_engine, session_factory
from rag.db.workers import WorkerRegistry
from tests.bot.harness import DOCS_CHANNEL, pdf_bytes
from tests.fakes.net import free_port, until_ok
from tests.fakes.processes import FolioProcess, folio_env, shared_database_url
from tests.fakes.slack import FakeSlack

pytestmark = pytest.mark.e2e

MESSAGE_TS = "1700000000.000100"
LEASE_S = 3
REPORT = [f"Page {n}: the payload size of the report is 42 kilobytes." for n in range(1, 4)]


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """One database the test and its folio processes share."""
    with shared_database_url(tmp_path) as url:
        yield url


@dataclass
class Workers:
    """Starts `folio worker` processes, each on a data dir of its name, all on one database."""

    fake: FakeSlack
    folder: Path
    database_url: str
    clip_dir: Path
    text_dir: Path
    started: list[FolioProcess]

    def env(self, name: str, **extra: str) -> dict[str, str]:
        """The environment of worker ``name``."""
        return folio_env(
            api_url=self.fake.api_url,
            data_dir=self.folder / name,
            database_url=self.database_url,
            clip_dir=self.clip_dir,
            text_dir=self.text_dir,
            index_channels=DOCS_CHANNEL,
            FOLIO_JOB_LEASE_S=str(LEASE_S),
            **extra,
        )

    async def start(self, name: str, **extra: str) -> FolioProcess:
        """Start worker ``name`` (``extra``: more environment values)."""
        log = self.folder / f"{name}.log"
        process = await FolioProcess.start("worker", self.env(name, **extra), log)
        self.started.append(process)
        return process

    async def owner(self) -> FolioProcess:
        """Start `folio serve` over HTTP, the owner of the embedded index, and wait for it."""
        port = free_port()
        env = self.env("serve", PORT=str(port))
        process = await FolioProcess.start("serve", env, self.folder / "serve.log")
        self.started.append(process)
        await until_ok(f"http://127.0.0.1:{port}/healthz", timeout_s=180)
        return process

    async def until_running(self, count: int) -> None:
        """Wait until ``count`` workers beat in the database."""
        engine = create_engine(self.database_url)
        registry = WorkerRegistry(sessions=session_factory(engine), live_s=LEASE_S)
        try:
            async with asyncio.timeout(180):
                while True:
                    if await registry.live() >= count:
                        return
                    await asyncio.sleep(0.1)
        finally:
            await engine.dispose()


@pytest.fixture
def workers(
    fake_slack: FakeSlack,
    tmp_path: Path,
    database_url: str,
    tiny_clip_dir: Path,
    minilm_dir: Path,
    processes: list[FolioProcess],
) -> Workers:
    """`folio worker` processes for this test."""
    return Workers(fake_slack, tmp_path, database_url, tiny_clip_dir, minilm_dir, processes)


async def enqueue(database_url: str, fake: FakeSlack, file_id: str, name: str) -> str:
    """Queue a shared file the way the bot's listener does; its job id."""
    engine = create_engine(database_url)
    try:
        queue = JobQueue(sessions=session_factory(engine))
        job, _ = await queue.enqueue(
            JobSpec(
                team_id=fake.team_id,
                channel_id=DOCS_CHANNEL,
                channel_private=False,
                file_name=name,
                slack_file_id=file_id,
                user_id="U0ALICE",
                message_ts=MESSAGE_TS,
            )
        )
        return job.id
    finally:
        await engine.dispose()


async def job_state(database_url: str, job_id: str) -> tuple[str, int, str | None]:
    """(status, attempts, lease token) of a job as stored."""
    engine = create_engine(database_url)
    try:
        job = await JobQueue(sessions=session_factory(engine)).get(job_id)
    finally:
        await engine.dispose()
    assert job is not None
    return job.status, job.attempts, job.lease


def thread_lines(fake: FakeSlack) -> list[str]:
    """The lines folio posted in the shared file's thread."""
    return [
        str(c.params.get("text"))
        for c in fake.calls("chat.postMessage")
        if c.params.get("thread_ts") == MESSAGE_TS
    ]


async def test_a_worker_paused_past_its_lease_is_fenced_off_and_the_file_is_confirmed_once(
    fake_slack: FakeSlack, database_url: str, workers: Workers
):
    info = fake_slack.add_file("F0FENCE", "q3.pdf", pdf_bytes(REPORT), "application/pdf")
    first_download = fake_slack.files["F0FENCE"].hold_next_download()
    owner = await workers.owner()
    stalled = await workers.start("stalled")
    await workers.until_running(1)
    job_id = await enqueue(database_url, fake_slack, info["id"], "q3.pdf")

    await fake_slack.until(
        lambda: downloads(fake_slack, "F0FENCE") or None, 120, lambda: "no download"
    )
    stalled.signal(signal.SIGSTOP)  # mid-job: it holds the lease, and its heartbeat stops
    first_download.set()
    await asyncio.sleep(LEASE_S + 1)
    # The next holder: this worker, or serve, which indexes itself once no worker beats.
    holder = await workers.start("holder")
    await fake_slack.until(lambda: thread_lines(fake_slack) or None, 120, lambda: "no reply")
    stalled.signal(signal.SIGCONT)  # it wakes up with the file in hand
    await stalled.wait_for_log("lost its lease", 60)
    for process in (stalled, holder, owner):
        process.signal(signal.SIGTERM)

    assert await stalled.wait(60) == 0 and await holder.wait(60) == 0
    assert await owner.wait(60) == 0
    assert thread_lines(fake_slack) == ["Indexed q3.pdf: 3 pages, 0 figures"]
    assert fake_slack.reactions[(DOCS_CHANNEL, MESSAGE_TS)] == ["white_check_mark"]
    status, attempts, _ = await job_state(database_url, job_id)
    assert (status, attempts) == ("done", 2)


def downloads(fake: FakeSlack, file_id: str) -> list[str]:
    """Paths of the downloads of a file so far."""
    return [r.path for r in fake.requests if r.kind == "download" and file_id in r.path]


async def test_sigterm_hands_the_job_in_hand_back_unspent_after_the_grace_period(
    fake_slack: FakeSlack, database_url: str, workers: Workers
):
    info = fake_slack.add_file("F0TERM", "q3.pdf", pdf_bytes(REPORT), "application/pdf")
    fake_slack.files["F0TERM"].hold_next_download()  # the file server never answers
    job_id = await enqueue(database_url, fake_slack, info["id"], "q3.pdf")
    port = free_port()
    worker = await workers.start(
        "worker", FOLIO_SHUTDOWN_GRACE_S="1", PORT=str(port), FOLIO_METRICS_TOKEN="scrape"
    )
    await fake_slack.until(lambda: downloads(fake_slack, "F0TERM") or None, 120, lambda: "none")
    async with aiohttp.ClientSession() as http:  # a platform probes the worker on $PORT
        async with http.get(f"http://127.0.0.1:{port}/healthz") as health:
            assert health.status == 200
        async with http.get(f"http://127.0.0.1:{port}/metrics") as anonymous:
            assert anonymous.status == 401  # never public: FOLIO_METRICS_TOKEN guards it
        bearer = {"Authorization": "Bearer scrape"}
        async with http.get(f"http://127.0.0.1:{port}/metrics", headers=bearer) as metrics:
            assert metrics.status == 200 and "folio_" in await metrics.text()

    worker.signal(signal.SIGTERM)

    assert await worker.wait(30) == 0
    status, attempts, lease = await job_state(database_url, job_id)
    assert (status, attempts, lease) == ("queued", 0, None)
    assert thread_lines(fake_slack) == []
    assert "handing its job back" in worker.log_text()


async def test_a_worker_killed_mid_ingest_leaves_a_job_the_next_worker_finishes_once(
    fake_slack: FakeSlack, database_url: str, workers: Workers
):
    # Long enough that embedding and storing it outlasts the moment of the kill.
    pages = [f"Page {n}: the payload size of the report is {n} kilobytes." for n in range(40)]
    info = fake_slack.add_file("F0KILL", "q3.pdf", pdf_bytes(pages), "application/pdf")
    owner = await workers.owner()
    doomed = await workers.start("doomed")
    await workers.until_running(1)
    job_id = await enqueue(database_url, fake_slack, info["id"], "q3.pdf")
    await doomed.wait_for_log("parsed a pdf", 120)  # now embedding and storing the pages

    doomed.signal(signal.SIGKILL)
    await doomed.wait(30)
    assert thread_lines(fake_slack) == []
    # After the lease, the successor (or serve, while no worker beats) resumes the job.
    successor = await workers.start("successor")
    await fake_slack.until(lambda: thread_lines(fake_slack) or None, 120, lambda: "no reply")
    for process in (successor, owner):
        process.signal(signal.SIGTERM)

    assert await successor.wait(60) == 0 and await owner.wait(60) == 0
    assert thread_lines(fake_slack) == ["Indexed q3.pdf: 40 pages, 0 figures"]
    status, attempts, _ = await job_state(database_url, job_id)
    assert (status, attempts) == ("done", 2)
    settings = Settings.from_env(workers.env("serve"))
    async with open_services(settings) as services:
        [document] = await services.catalog.by_slack_file(fake_slack.team_id, "F0KILL")
        stored = await services.index.count(team_id=fake_slack.team_id)
        assert stored == await services.index.count(document_id=document.id)
        assert stored == await services.ingestor.reindex(document)  # a clean rebuild's count
