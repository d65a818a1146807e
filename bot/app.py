"""build_app: folio's bolt AsyncApp, its dedupe middleware, error handler and listeners."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.ask import Asker
from bot.commands import Commands
from bot.errors import error_handler
from bot.files import SlackFiles
from bot.indexing import SlackIndexer
from bot.listeners import register
from bot.metrics import Metrics
from bot.tasks import InFlight
from rag._services import Services
from rag.errors import ConfigError
from rag.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Parts:
    """What the listeners call into: each one Slack-facing piece of folio."""

    settings: Settings
    services: Services
    asker: Asker
    indexer: SlackIndexer
    commands: Commands
    metrics: Metrics
    inflight: InFlight


def build_parts(
    settings: Settings,
    services: Services,
    *,
    client: AsyncWebClient,
    session: aiohttp.ClientSession | None = None,
    metrics: Metrics | None = None,
    inflight: InFlight | None = None,
) -> Parts:
    """Wire the asker, indexer and commands over rag's services and one Slack client."""
    if settings.slack_bot_token is None:
        raise ConfigError(detail="SLACK_BOT_TOKEN is required to download Slack files.")
    metrics = metrics or Metrics()
    files = SlackFiles(
        client=client,
        session=session if session is not None else client.session,
        token=settings.slack_bot_token.value,
        allowed_hosts=settings.slack_file_hosts,
        max_bytes=settings.parse.max_bytes,
    )
    indexer = SlackIndexer(services=services, client=client, files=files, metrics=metrics)
    asker = Asker(services=services, client=client, files=files, metrics=metrics)
    commands = Commands(services=services, client=client, indexer=indexer)
    return Parts(settings, services, asker, indexer, commands, metrics, inflight or InFlight())


def build_app(
    settings: Settings,
    services: Services,
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
        settings, services, client=client, session=session, metrics=metrics, inflight=inflight
    )
    secret = settings.slack_signing_secret
    app = AsyncApp(
        client=client,
        signing_secret=secret.value if secret is not None else "",
        request_verification_enabled=secret is not None,
        process_before_response=False,
    )
    app.use(dedupe_events(parts))
    app.error(error_handler(parts.metrics))
    register(app, parts)
    return app


Next = Callable[[], Awaitable[None]]


def dedupe_events(parts: Parts) -> Callable[..., Awaitable[BoltResponse | None]]:
    """Global middleware: an event_id seen before (a Slack retry, in any process) is dropped."""

    async def dedupe(body: dict[str, Any], next: Next) -> BoltResponse | None:  # noqa: A002
        if body.get("type") != "event_callback" or not body.get("event_id"):
            await next()
            return None
        kind = str((body.get("event") or {}).get("type") or "unknown")
        parts.metrics.inc("folio_events_received_total", type=kind)
        team = str(body.get("team_id") or "")
        if not await parts.services.events.first_time(str(body["event_id"]), team):
            parts.metrics.inc("folio_events_deduplicated_total", type=kind)
            logger.info("dropped repeated event %s (%s)", body["event_id"], kind)
            return BoltResponse(status=200, body="")
        await next()
        return None

    return dedupe
