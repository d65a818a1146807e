"""`folio serve` and `folio worker` (the `folio` console script itself is bot.console).

``serve`` runs the bot in Socket Mode when SLACK_APP_TOKEN is set, else over HTTP on $PORT;
either way, and in ``worker``, $PORT serves /healthz and /metrics.
With a Qdrant server, ``folio worker`` processes index shared files, and ``serve`` says when
none is running. With the embedded index only ``serve`` opens the store: it indexes
in-process while no worker runs, and applies the point outbox that ``folio worker``
processes (on PostgreSQL) write their points to.
SIGTERM or SIGINT stops taking new work and gives answers being written and the job in hand
FOLIO_SHUTDOWN_GRACE_S to finish; a job still running then is cancelled and handed back to
the queue without spending an attempt, and the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import aiohttp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import build_app, build_parts
from bot.backfill import SlackBackfill
from bot.gateway import SlackGateway
from bot.metrics import Metrics, watch_event_loop
from bot.server import run_http, run_probes, run_socket
from bot.startup import transport
from bot.tasks import InFlight
from rag import (
    Audiences,
    Channels,
    ConfigError,
    Fleet,
    Folio,
    JobRunner,
    PrivacyWatch,
    Settings,
    StoreError,
    models_behind_the_loop,
    open_folio,
)

logger = logging.getLogger(__name__)

LOOP_SWITCH_INTERVAL_S = 0.001

NO_BOT_TOKEN = (
    "folio worker needs SLACK_BOT_TOKEN (the xoxb- Bot User OAuth Token) to read shared "
    "files; set it in the environment or in .env."
)

NO_WORKER = (
    "no folio worker is running: files shared in indexing channels wait in the queue "
    "until one starts (run `folio worker`)"
)


def slack_client(settings: Settings, session: aiohttp.ClientSession) -> AsyncWebClient:
    """The Web API client: SLACK_API_URL, the bot token, and Slack's retry handlers."""
    if settings.slack_bot_token is None:
        raise ConfigError(detail=NO_BOT_TOKEN)
    return AsyncWebClient(
        token=settings.slack_bot_token.value,
        base_url=settings.slack_api_url,
        session=session,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(),
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
            AsyncServerErrorRetryHandler(),
        ],
    )


def worker_id() -> str:
    """This process, as the job queue records who holds a job."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def serve(settings: Settings, *, stop: asyncio.Event | None = None) -> int:
    """Run the bot until SIGTERM/SIGINT (or ``stop``); returns the exit code."""
    mode = transport(settings)  # missing tokens stop start-up before anything opens
    # The loop shares the GIL with threads (models' glue, BM25, the database driver); at
    # each of its waits a busy thread keeps the GIL up to the switch interval before the
    # loop gets it back. 1 ms instead of 5 keeps the loop's lag low under load.
    sys.setswitchinterval(LOOP_SWITCH_INTERVAL_S)
    stop = stop or asyncio.Event()
    inflight = InFlight()
    # Opened before the models load: their threads, and the OpenMP teams those start, run
    # behind the loop.
    with _stop_on_signals(stop), models_behind_the_loop():
        # With the embedded stores this process also indexes: it embeds in a child.
        async with _slack(settings, embed_in_child=settings.embedded_index) as (
            folio,
            session,
            client,
        ):
            metrics = Metrics()
            app = build_app(
                settings,
                folio,
                client=client,
                session=session,
                metrics=metrics,
                inflight=inflight,
            )
            lag = asyncio.create_task(watch_event_loop(metrics))
            await say_if_no_worker(settings, folio.fleet)
            background = [asyncio.create_task(_privacy_watch(folio, client).run_forever(stop))]
            if settings.embedded_index:
                runner = _job_runner(
                    settings, folio, client, session, metrics, aside=folio.fleet.workers_running
                )
                background.append(asyncio.create_task(runner.run_forever(stop)))
                background.append(asyncio.create_task(folio.fleet.apply_forever(stop)))
            parts = build_parts(settings, folio, client=client, session=session, metrics=metrics)
            backfill = asyncio.create_task(
                backfill_configured(settings, parts.backfill, folio.channels, client)
            )
            try:
                if mode == "socket":
                    async with _probes(settings, metrics, folio, stop):
                        await run_socket(app, settings=settings, stop=stop)
                else:
                    await run_http(
                        app,
                        settings=settings,
                        inflight=inflight,
                        metrics=metrics,
                        health=folio.health,
                        stop=stop,
                    )
            finally:
                stop.set()
                backfill.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await backfill
                if not await inflight.idle(settings.shutdown_grace_s):
                    logger.warning("stopping with %d answers unfinished", inflight.running)
                await asyncio.gather(*background)
                lag.cancel()
    return 0


async def backfill_configured(
    settings: Settings, backfill: SlackBackfill, channels: Channels, client: AsyncWebClient
) -> None:
    """Index the files already in every indexing channel that folio has not seen yet.

    FOLIO_INDEX_CHANNELS and channels turned on with `/folio index here` alike: a share that
    was acknowledged but never queued (the process died, the database was down) is found
    here at the next start.
    """
    try:
        team_id = str((await client.auth_test())["team_id"])
    except (SlackApiError, SlackRequestError, aiohttp.ClientError, TimeoutError) as exc:
        logger.warning("cannot read the indexing channels' files: auth.test failed: %s", exc)
        return
    try:
        indexing = await channels.indexed_channels(team_id)
    except StoreError as exc:
        logger.warning("cannot list the indexing channels: %s", exc.detail)
        indexing = list(settings.index_channels)
    await backfill.run_all(team_id, indexing)


async def work(settings: Settings, *, stop: asyncio.Event | None = None) -> int:
    """Run only the ingestion worker until SIGTERM/SIGINT (or ``stop``)."""
    stop = stop or asyncio.Event()
    with _stop_on_signals(stop):
        async with _slack(settings, index_owner=False) as (folio, session, client):
            metrics = Metrics()
            runner = _job_runner(settings, folio, client, session, metrics)
            beat = asyncio.create_task(folio.fleet.beat_forever(worker_id(), stop))
            async with _probes(settings, metrics, folio, stop):
                await runner.run_forever(stop)
            await beat
    return 0


async def say_if_no_worker(settings: Settings, fleet: Fleet) -> None:
    """With a Qdrant server, files wait for a `folio worker`: say so when none is running."""
    if settings.embedded_index:
        return
    try:
        if not await fleet.live_workers():
            logger.warning("%s", NO_WORKER)
    except StoreError as exc:
        logger.warning("cannot count the running workers: %s", exc.detail)


@contextlib.asynccontextmanager
async def _slack(
    settings: Settings, *, embed_in_child: bool = False, index_owner: bool = True
) -> AsyncIterator[tuple[Folio, aiohttp.ClientSession, AsyncWebClient]]:
    """rag's use cases, one HTTP session and the Slack client, closed in order."""
    if settings.slack_bot_token is None:
        raise ConfigError(detail=NO_BOT_TOKEN)
    async with (
        open_folio(settings, embed_in_child=embed_in_child, index_owner=index_owner) as folio,
        aiohttp.ClientSession() as session,
    ):
        yield folio, session, slack_client(settings, session)


def _job_runner(
    settings: Settings,
    folio: Folio,
    client: AsyncWebClient,
    session: aiohttp.ClientSession,
    metrics: Metrics,
    *,
    aside: Callable[[], Awaitable[bool]] | None = None,
) -> JobRunner:
    """The job runner of this process; ``aside`` says when to leave jobs to the workers."""
    parts = build_parts(settings, folio, client=client, session=session, metrics=metrics)
    return JobRunner(
        queue=folio.jobs,
        handler=parts.indexer,
        worker_id=worker_id(),
        grace_s=settings.shutdown_grace_s,
        events=folio.events,
        applied=folio.fleet.applied,
        step_aside=aside,
    )


def _privacy_watch(folio: Folio, client: AsyncWebClient) -> PrivacyWatch:
    """Re-checks every channel holding documents on a timer (events can be missed)."""
    audiences = Audiences(directory=SlackGateway(client=client))
    return PrivacyWatch(library=folio.library, audiences=audiences)


@contextlib.asynccontextmanager
async def _probes(
    settings: Settings, metrics: Metrics, folio: Folio, stop: asyncio.Event
) -> AsyncIterator[None]:
    """/healthz and /metrics on $PORT while the block runs."""
    probes = asyncio.create_task(
        run_probes(settings=settings, metrics=metrics, health=folio.health, stop=stop)
    )
    try:
        yield
    finally:
        stop.set()
        await probes


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop`` (only where the loop can take signals)."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    handler: Callable[[], None] = stop.set
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, handler)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            logger.debug("cannot handle %s here", sig.name)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
