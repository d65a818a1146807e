"""Load on a running `folio serve` (HTTP mode): acks, answers, event-loop lag and memory.

A real `folio serve` process runs against the fake Slack (tests/fakes) and a fake OpenAI
that takes ``--model-latency`` seconds (default 1) per completion, with the ViT-B/32-geometry
random CLIP and all-MiniLM-L6-v2, over the sample filings in tests/data (indexed first with
`folio ingest`). Signed ``app_mention`` events arrive over HTTP as Slack sends them:

  a. steady: ``--rate`` mentions/s (10) for ``--seconds`` (60): ack latency, every mention
     answered once;
  b. burst: ``--burst`` (100) simultaneous mentions: ack latency, answers, duplicates, and
     the process's memory (RSS) while it answers;
  c. indexing: the steady load again while a ``--big-pages``-page PDF (300) and a page of
     30,000 vector paths are being indexed: ack latency, and the event loop's lag p99 as the
     bot itself measures it (``folio_event_loop_lag_seconds`` in ``/metrics``).

Memory at rest is read once the bot is up and idle. Writes bench/reports/load.json and
load.png. Targets (issue 13): a. ack p99 < 100 ms; b. ack p99 < 1 s, 100 answers, 0
duplicates; c. loop lag p99 < 50 ms; RSS < 1.5 GB at rest and < 2 GB answering.

    python -m bench.load [--rate 10] [--seconds 60] [--burst 100] [--big-pages 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from bench.ingest import clean_env, models
from bench.load_report import TARGET_RSS_MB, TARGETS, plot, verdicts
from bench.procs import rss_mb, tree_rss_mb
from bench.stats import percentiles
from tests.bot.harness import vision_responder
from tests.fakes.documents import text_pdf, vector_heavy_pdf
from tests.fakes.net import free_port
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import (
    CHANNEL_ID,
    TEAM_ID,
    FakeSlack,
    app_mention_event,
    event_callback,
    event_request,
    file_share_message_event,
)

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "bench" / "reports"
SAMPLES = ROOT / "tests" / "data"
SECRET = "folio-bench-signing-secret"
METRICS_TOKEN = "folio-bench-metrics"
FOLIO = str(Path(sys.executable).with_name("folio"))
DOCS_CHANNEL = "C0DOCS"
# Page images upload after an answer starts streaming: how long to wait for the last ones.
_IMAGES_SETTLE_S = 15.0
QUESTIONS = (
    "What drove the increase in Ulta Beauty's merchandise inventories?",
    "How much revenue did Netflix report for streaming?",
    "What did Best Buy say about its comparable sales?",
    "What was Amcor's net sales in the quarter?",
    "What dividend did PepsiCo declare?",
    "What did Foot Locker announce in its 8-K?",
    "What were Pfizer's revenues in the second quarter?",
    "Which items did Johnson & Johnson report in its 8-K?",
)


class Bot:
    """The `folio serve` process and what the benchmark sends it."""

    def __init__(self, port: int, fake: FakeSlack, proc: asyncio.subprocess.Process) -> None:
        self.port = port
        self.fake = fake
        self.proc = proc
        self.http: aiohttp.ClientSession | None = None
        self.sent: list[str] = []  # the ts of every mention sent

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def deliver(self, event: dict[str, Any]) -> float:
        """POST one signed event; the ack latency in ms."""
        assert self.http is not None
        raw, headers = event_request(event_callback(event), SECRET)
        started = time.perf_counter()
        async with self.http.post(f"{self.url}/slack/events", data=raw, headers=headers) as r:
            await r.read()
            if r.status != 200:
                raise RuntimeError(f"folio answered {r.status} to an event")
        return (time.perf_counter() - started) * 1000

    async def mention(self, number: int) -> float:
        event = app_mention_event(QUESTIONS[number % len(QUESTIONS)], channel=CHANNEL_ID)
        self.sent.append(str(event["ts"]))
        return await self.deliver(event)

    async def metrics(self) -> dict[str, float]:
        """The numbers of ``/metrics`` (name with labels -> value)."""
        assert self.http is not None
        bearer = {"Authorization": f"Bearer {METRICS_TOKEN}"}
        async with self.http.get(f"{self.url}/metrics", headers=bearer) as response:
            text = await response.text()
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return values

    def answers(self, ts: str) -> int:
        """How many answers folio posted in the thread of the mention ``ts``."""
        posted = [
            c
            for c in self.fake.calls("chat.postMessage")
            if c.params.get("thread_ts") == ts and "feedback" in json.dumps(c.params)
        ]
        streamed = [
            c for c in self.fake.calls("chat.startStream") if c.params.get("thread_ts") == ts
        ]
        return len(posted) + len(streamed)

    async def all_answered(self, tss: list[str], timeout_s: float) -> float:
        """Wait until every mention in ``tss`` has an answer; seconds waited (or the timeout)."""
        return await _polled(lambda: all(self.answers(ts) for ts in tss), timeout_s)

    async def images_settled(self, tss: list[str], timeout_s: float = _IMAGES_SETTLE_S) -> None:
        """Wait (bounded) for page images in every thread of ``tss``.

        An answer counts from its first streamed words; its page images upload after, so
        right after the last answer starts its images can still be on their way.
        """
        await _polled(lambda: all(self.fake.uploads_in(CHANNEL_ID, ts) for ts in tss), timeout_s)

    def rss_mb(self) -> dict[str, float]:
        return {
            "serve": round(rss_mb(self.proc.pid), 1),
            "tree": round(tree_rss_mb(self.proc.pid), 1),
        }


async def _polled(done: Callable[[], bool], timeout_s: float) -> float:
    """Check ``done`` every 0.5 s until it holds or ``timeout_s`` passes; seconds waited."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if done():
            break
        await asyncio.sleep(0.5)
    return round(time.perf_counter() - started, 1)


async def steady(bot: Bot, rate: float, seconds: float) -> dict[str, Any]:
    """``rate`` mentions per second for ``seconds``; ack latencies and answers."""
    first = len(bot.sent)
    acks = await _paced(lambda n: bot.mention(n), rate, seconds)
    tss = bot.sent[first:]
    drained = await bot.all_answered(tss, timeout_s=900)
    await bot.images_settled(tss)
    return {
        "mentions": len(tss),
        "ack_ms": percentiles(acks, (50, 99)),
        "drain_s": drained,
        **_answered(bot, tss),
    }


async def burst(bot: Bot, count: int) -> dict[str, Any]:
    """``count`` simultaneous mentions; acks, answers, duplicates and memory while answering."""
    first = len(bot.sent)
    peak = {"serve": 0.0, "tree": 0.0}
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            now = bot.rss_mb()
            peak.update({k: max(peak[k], now[k]) for k in peak})
            await asyncio.sleep(0.1)

    sampler = asyncio.create_task(sample())
    acks = await asyncio.gather(*(bot.mention(n) for n in range(count)))
    tss = bot.sent[first:]
    drained = await bot.all_answered(tss, timeout_s=900)
    await bot.images_settled(tss)
    done.set()
    await sampler
    return {
        "mentions": len(tss),
        "ack_ms": percentiles(list(acks), (50, 99)),
        "drain_s": drained,
        "rss_peak_mb": peak,
        **_answered(bot, tss),
    }


async def while_indexing(bot: Bot, rate: float, seconds: float, big_pages: int) -> dict[str, Any]:
    """The steady load while a long PDF and a heavy-vector page are being indexed."""
    shared = []
    for name, data in (
        ("long-report.pdf", text_pdf([_page_text(n) for n in range(1, big_pages + 1)])),
        ("heavy-vectors.pdf", vector_heavy_pdf(["A page drawn with many strokes."], paths=30_000)),
    ):
        info = bot.fake.add_file(
            bot.fake.new_id("F"), name, data, "application/pdf", channels=(DOCS_CHANNEL,)
        )
        event = file_share_message_event([info], channel=DOCS_CHANNEL)
        shared.append(str(event["ts"]))
        await bot.deliver(event)
    started = time.perf_counter()
    load = await steady(bot, rate, seconds)
    lag = await bot.metrics()
    indexed = await _indexed(bot, shared, timeout_s=900)
    return {
        **load,
        "loop_lag_p99_ms": round(lag['folio_event_loop_lag_seconds{quantile="0.99"}'] * 1000, 1),
        "loop_lag_p50_ms": round(lag['folio_event_loop_lag_seconds{quantile="0.5"}'] * 1000, 1),
        "indexed_after_s": round(time.perf_counter() - started, 1) if indexed else None,
        "pages_indexing": big_pages + 1,
    }


async def _indexed(bot: Bot, tss: list[str], timeout_s: float) -> bool:
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        marks = [bot.fake.reactions.get((DOCS_CHANNEL, ts), []) for ts in tss]
        if all(any(m in ("white_check_mark", "x") for m in names) for names in marks):
            return True
        await asyncio.sleep(1)
    return False


def _answered(bot: Bot, tss: list[str]) -> dict[str, int]:
    counts = [bot.answers(ts) for ts in tss]
    return {
        "answered": sum(1 for c in counts if c),
        "duplicates": sum(c - 1 for c in counts if c > 1),
        "with_page_images": sum(1 for ts in tss if bot.fake.uploads_in(CHANNEL_ID, ts)),
    }


async def _paced(
    send: Callable[[int], Awaitable[float]], rate: float, seconds: float
) -> list[float]:
    """Call ``send(n)`` ``rate`` times a second for ``seconds``, not waiting for answers."""
    tasks = []
    start = time.perf_counter()
    for n in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(send(n)))
    return list(await asyncio.gather(*tasks))


def _page_text(number: int) -> str:
    return (
        f"Section {number}. Revenue for region {number} grew {number % 17 + 2} percent as "
        "shipments rose and prices held. Operating costs were flat against the prior year, "
        "and the segment's margin improved on lower freight and warehouse costs.\n\n"
        f"Outlook {number}. Management expects demand to stay steady next quarter."
    )


async def _healthy(url: str, proc: asyncio.subprocess.Process, timeout_s: float = 300) -> None:
    deadline = time.perf_counter() + timeout_s
    async with aiohttp.ClientSession() as http:
        while time.perf_counter() < deadline:
            if proc.returncode is not None:
                raise RuntimeError(f"folio serve exited with {proc.returncode}")
            try:
                async with http.get(f"{url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
    raise RuntimeError("folio serve did not come up")


def _serve_env(base: dict[str, str], fake: FakeSlack, model_url: str, port: int) -> dict[str, str]:
    return {
        **base,
        "SLACK_API_URL": fake.api_url,
        "SLACK_BOT_TOKEN": "xoxb-folio-bench",
        "SLACK_SIGNING_SECRET": SECRET,
        "FOLIO_SLACK_FILE_HOSTS": "127.0.0.1",
        "FOLIO_INDEX_CHANNELS": DOCS_CHANNEL,
        "OPENAI_API_KEY": "sk-bench",
        "OPENAI_BASE_URL": model_url + "/v1",
        # The model is the bottleneck by design (1 s a call): let enough calls run at once.
        "FOLIO_OPENAI_CONCURRENCY": "32",
        "FOLIO_MAX_CAPTIONS": "0",
        "FOLIO_METRICS_TOKEN": METRICS_TOKEN,
        # One simulated person asks everything here: the rate limits would measure themselves,
        # and the bench sends mentions without their message events, which nothing waits for.
        "FOLIO_RATE_USER_PER_MIN": "0",
        "FOLIO_RATE_CHANNEL_PER_MIN": "0",
        "FOLIO_MENTION_FILES_WAIT_S": "0",
        "PORT": str(port),
    }


async def run(args: argparse.Namespace, base: dict[str, str], workdir: Path) -> dict[str, Any]:
    """Start `folio serve` against the fakes and run the three phases."""
    log = workdir / "serve.log"
    async with (
        FakeSlack() as fake,
        FakeOpenAI(vision_responder, latency_s=args.model_latency) as model,
    ):
        port = free_port()
        with log.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                FOLIO,
                "serve",
                env=_serve_env(base, fake, model.url, port),
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
        bot = Bot(port, fake, proc)
        try:
            await _healthy(bot.url, proc)
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
                bot.http = http
                await asyncio.sleep(5)  # idle: what the process holds at rest
                return {
                    "rss_rest_mb": bot.rss_mb(),
                    "steady": await steady(bot, args.rate, args.seconds),
                    "burst": await burst(bot, args.burst),
                    "indexing": await while_indexing(bot, args.rate, args.seconds, args.big_pages),
                }
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 60)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--big-pages", type=int, default=300)
    parser.add_argument("--model-latency", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=REPORTS)
    args = parser.parse_args()
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    load_before = os.getloadavg()[0]
    clip, text = models()
    with tempfile.TemporaryDirectory(prefix="folio-bench-load-") as tmp:
        base = clean_env(Path(tmp) / "data", clip, text)
        # The sample filings, indexed first, so answers cite and attach pages.
        subprocess.run(
            [FOLIO, "ingest", "--team", TEAM_ID, "--channel", DOCS_CHANNEL, str(SAMPLES)],
            env=base,
            check=True,
            capture_output=True,
        )
        report = asyncio.run(run(args, base, Path(tmp)))
    report = {
        "commit": commit,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, shared",
        # Other work on the shared machine (1-minute load average, at the start and the end).
        "load_average_before_after": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        # Where it was written is a path on the machine that ran it: not part of the report.
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "targets": {**TARGETS, **{f"rss_{k}_mb": v for k, v in TARGET_RSS_MB.items()}},
        **report,
    }
    report["meets"] = verdicts(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "load.json").write_text(json.dumps(report, indent=1) + "\n")
    plot(report, args.out / "load.png")
    print(json.dumps(report["meets"]))


if __name__ == "__main__":
    main()
