"""build_app: folio's bolt AsyncApp, its dedupe middleware, error handler and listeners."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.ask import Asker
from bot.backfill import SlackBackfill
from bot.commands import Commands
from bot.errors import error_handler
from bot.files import SlackFiles
from bot.gateway import SlackGateway
from bot.indexing import SlackIndexer
from bot.late_files import LateFiles
from bot.listeners import register
from bot.metrics import Metrics
from bot.outage import OutageReplies
from bot.replies import host_team
from bot.share import Sharer
from bot.tasks import InFlight
from rag import (
    Audiences,
    Channels,
    ConfigError,
    EventLog,
    Folio,
    Library,
    Overview,
    PrivacyWatch,
    Questions,
    RateLimits,
    Settings,
    StoreError,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Parts:
    """What the listeners call into: the Slack-facing pieces and the rag use cases they use."""

    asker: Asker
    sharer: Sharer
    indexer: SlackIndexer
    backfill: SlackBackfill
    commands: Commands
    questions: Questions
    overview: Overview
    audiences: Audiences
    privacy: PrivacyWatch
    library: Library
    channels: Channels
    events: EventLog
    gateway: SlackGateway
    metrics: Metrics
    inflight: InFlight
    late_files: LateFiles


def build_parts(
    settings: Settings,
    folio: Folio,
    *,
    client: AsyncWebClient,
    session: aiohttp.ClientSession | None = None,
    metrics: Metrics | None = None,
    inflight: InFlight | None = None,
) -> Parts:
    """Wire the asker, indexer and commands over rag's use cases and one Slack client."""
    if settings.slack_bot_token is None:
        raise ConfigError(detail="SLACK_BOT_TOKEN is required to download Slack files.")
    metrics = metrics or Metrics()
    gateway = SlackGateway(client=client)
    audiences = Audiences(directory=gateway)
    files = SlackFiles(
        gateway=gateway,
        session=session if session is not None else client.session,
        token=settings.slack_bot_token.value,
        allowed_hosts=settings.slack_file_hosts,
        max_bytes=settings.parse.max_bytes,
    )
    backfill = SlackBackfill(backfills=folio.backfills, gateway=gateway, audiences=audiences)
    return Parts(
        asker=Asker(
            questions=folio.questions,
            audiences=audiences,
            events=folio.events,
            files=files,
            gateway=gateway,
            metrics=metrics,
            limits=RateLimits(
                per_user=settings.rate_user_per_min, per_channel=settings.rate_channel_per_min
            ),
        ),
        sharer=Sharer(questions=folio.questions, events=folio.events, gateway=gateway),
        indexer=SlackIndexer(
            library=folio.library,
            jobs=folio.jobs,
            files=files,
            gateway=gateway,
            audiences=audiences,
            metrics=metrics,
            backfill=backfill,
        ),
        backfill=backfill,
        commands=Commands(
            library=folio.library,
            channels=folio.channels,
            overview=folio.overview,
            audiences=audiences,
            gateway=gateway,
            backfill=backfill,
        ),
        questions=folio.questions,
        overview=folio.overview,
        audiences=audiences,
        privacy=PrivacyWatch(library=folio.library, audiences=audiences),
        library=folio.library,
        channels=folio.channels,
        events=folio.events,
        gateway=gateway,
        metrics=metrics,
        inflight=inflight or InFlight(),
        late_files=LateFiles(wait_s=settings.mention_files_wait_s),
    )


def build_app(
    settings: Settings,
    folio: Folio,
    *,
    client: AsyncWebClient,
    session: aiohttp.ClientSession | None = None,
    metrics: Metrics | None = None,
    inflight: InFlight | None = None,
) -> AsyncApp:
    """folio's bolt app: acks first, drops repeated events, answers in threads.

    ``client`` is built by the entry point (base URL, bot token, retry handlers).
    Request signatures are verified when a signing secret is configured (HTTP mode).
    """
    parts = build_parts(
        settings, folio, client=client, session=session, metrics=metrics, inflight=inflight
    )
    secret = settings.slack_signing_secret
    app = AsyncApp(
        client=client,
        signing_secret=secret.value if secret is not None else "",
        request_verification_enabled=secret is not None,
        process_before_response=False,
    )
    outage = OutageReplies(gateway=parts.gateway, metrics=parts.metrics)
    app.use(dedupe_events(parts.events, parts.metrics, outage))
    app.error(error_handler(parts.gateway, parts.metrics, outage))
    register(app, parts)
    return app


Next = Callable[[], Awaitable[None]]


def dedupe_events(
    events: EventLog, metrics: Metrics, outage: OutageReplies
) -> Callable[..., Awaitable[BoltResponse | None]]:
    """Global middleware: an event_id seen before (a Slack retry, in any process) is dropped.

    With the database down nothing can be told apart or answered: a question addressed to
    folio gets one apology (``outage``), everything else nothing, and Slack its 200 so it
    stops retrying.
    """

    async def dedupe(
        body: dict[str, Any],
        context: AsyncBoltContext,
        next: Next,  # noqa: A002
    ) -> BoltResponse | None:
        if body.get("type") != "event_callback" or not body.get("event_id"):
            await next()
            return None
        kind = str((body.get("event") or {}).get("type") or "unknown")
        metrics.inc("folio_events_received_total", type=kind)
        team = host_team(context)
        try:
            first = await events.first_time(str(body["event_id"]), team)
        except StoreError as exc:
            logger.warning("event %s not handled: %s", body["event_id"], exc.detail)
            await outage.apologize(body, exc)
            return BoltResponse(status=200, body="")
        if not first:
            metrics.inc("folio_events_deduplicated_total", type=kind)
            logger.info("dropped repeated event %s (%s)", body["event_id"], kind)
            return BoltResponse(status=200, body="")
        await next()
        return None

    return dedupe
