"""Transports: HTTP (aiohttp: /slack/events, /healthz; /metrics guarded) and Socket Mode.

Every process serves the probes: in HTTP mode beside /slack/events, in Socket Mode and in
`folio worker` alone on $PORT (``run_probes``). /healthz answers 200 while the database and
the vector index both answer, else 503 (the check is cached for a few seconds), and says
nothing more. /metrics is never public: it is served behind FOLIO_METRICS_TOKEN, or on its
own port (FOLIO_METRICS_PORT), or not at all.

The HTTP side is bolt's aiohttp adapter plus one repair. bolt parses any form body that
contains the substring "payload" as an interactivity payload, so the slash command
``/folio ask what is the payload size`` would reach the app as an empty body and be dropped.
``slack_request`` re-parses such a body as the plain form it is; signature verification
reads the raw body, which is left untouched.

Events are acknowledged before they are handled: a correctly signed ``event_callback`` gets
its 200 at once and bolt handles it (dedupe by event id in the database, then the
listeners) in a task. Slack needs nothing from the response of an event but its status,
and the ack no longer waits for a database write on a loop that is busy answering (under
load that wait was most of a second). Commands and interactions, whose responses carry
content, go through bolt before they are answered.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.metrics import Metrics
from bot.tasks import InFlight
from rag import ConfigError, HealthCheck, Settings

logger = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_REQUEST_BYTES = 1024 * 1024


async def slack_request(request: web.Request) -> AsyncBoltRequest:
    """bolt's request for an aiohttp request, with slash commands always parsed as forms."""
    bolt_request = await to_bolt_request(request)
    if "command" not in bolt_request.body and request.content_type == (
        "application/x-www-form-urlencoded"
    ):
        form = dict(parse_qsl(bolt_request.raw_body, keep_blank_values=True))
        if "command" in form:
            bolt_request.body = form
            bolt_request.context = build_async_context(AsyncBoltContext({}), form)
    return bolt_request


def probe_app(
    *, metrics: Metrics, health: HealthCheck, metrics_token: str | None = None
) -> web.Application:
    """/healthz, and /metrics behind ``metrics_token`` (``Authorization: Bearer …``) if set."""

    async def healthz(request: web.Request) -> web.Response:
        ok = (await health.check()).ok
        return web.json_response({"ok": ok}, status=200 if ok else 503)

    async def guarded_metrics(request: web.Request) -> web.Response:
        presented = request.headers.get("Authorization", "")
        expected = f"Bearer {metrics_token}"
        if not hmac.compare_digest(presented.encode(), expected.encode()):
            return web.Response(status=401, headers={"WWW-Authenticate": "Bearer"})
        return _metrics_response(metrics)

    application = web.Application(client_max_size=MAX_REQUEST_BYTES)
    application.router.add_get("/healthz", healthz)
    if metrics_token:
        application.router.add_get("/metrics", guarded_metrics)
    return application


def web_app(
    app: AsyncApp,
    *,
    signing_secret: str,
    inflight: InFlight,
    metrics: Metrics,
    health: HealthCheck,
    metrics_token: str | None = None,
) -> web.Application:
    """The public aiohttp application: Slack's requests (events acked first) and the probes.

    An event acked but not yet handled counts in ``inflight``, so a shutdown waits for it.
    """
    verifier = SignatureVerifier(signing_secret)

    async def events(request: web.Request) -> web.Response:
        bolt_request = await slack_request(request)
        if _signed_event(bolt_request, verifier):
            inflight.spawn(_handle(app, bolt_request))
            return web.Response(status=200)
        return await to_aiohttp_response(await app.async_dispatch(bolt_request))

    application = probe_app(metrics=metrics, health=health, metrics_token=metrics_token)
    application.router.add_post(EVENTS_PATH, events)
    return application


def _signed_event(request: AsyncBoltRequest, verifier: SignatureVerifier) -> bool:
    """An Events API callback (not a command or interaction) that Slack really signed."""
    if not isinstance(request.body, dict) or request.body.get("type") != "event_callback":
        return False
    return verifier.is_valid(
        body=request.raw_body,
        timestamp=request.headers.get("x-slack-request-timestamp", [""])[0],
        signature=request.headers.get("x-slack-signature", [""])[0],
    )


async def _handle(app: AsyncApp, request: AsyncBoltRequest) -> None:
    """bolt's handling of an event already acked; its response goes nowhere."""
    response = await app.async_dispatch(request)
    if response.status >= 400 and response.status != 404:  # 404: no listener wanted it
        body = response.body if isinstance(response.body, str) else json.dumps(response.body)
        logger.warning("event not handled (%d): %s", response.status, body[:200])


def metrics_app(metrics: Metrics) -> web.Application:
    """/metrics alone, for FOLIO_METRICS_PORT (a port scrapers reach and Slack does not)."""

    async def metrics_text(request: web.Request) -> web.Response:
        return _metrics_response(metrics)

    application = web.Application()
    application.router.add_get("/metrics", metrics_text)
    return application


def _metrics_response(metrics: Metrics) -> web.Response:
    return web.Response(body=metrics.render().encode(), headers={"Content-Type": METRICS_TYPE})


def _token(settings: Settings) -> str | None:
    return settings.metrics_token.value if settings.metrics_token else None


async def run_probes(
    *,
    settings: Settings,
    metrics: Metrics,
    health: HealthCheck,
    stop: asyncio.Event,
    host: str = "0.0.0.0",
) -> None:
    """Serve the probes on ``settings.port`` (and /metrics on its port) until ``stop``.

    A port already taken is logged, not fatal: the process's work matters more than its probe.
    """
    public = probe_app(metrics=metrics, health=health, metrics_token=_token(settings))
    runners = _runners(public, settings, metrics)
    try:
        for runner, port in runners:
            await runner.setup()
            try:
                await web.TCPSite(runner, host, port).start()
            except OSError as exc:
                logger.warning("cannot serve probes on port %d: %s", port, exc)
            else:
                logger.info("probes on %s:%d", host, port)
        await stop.wait()
    finally:
        for runner, _ in runners:
            await runner.cleanup()


async def run_http(
    app: AsyncApp,
    *,
    settings: Settings,
    inflight: InFlight,
    metrics: Metrics,
    health: HealthCheck,
    stop: asyncio.Event,
    host: str = "0.0.0.0",
) -> None:
    """Serve HTTP on ``settings.port`` until ``stop`` is set."""
    if settings.slack_signing_secret is None:
        raise ConfigError(detail="SLACK_SIGNING_SECRET is required for HTTP mode.")
    public = web_app(
        app,
        signing_secret=settings.slack_signing_secret.value,
        inflight=inflight,
        metrics=metrics,
        health=health,
        metrics_token=_token(settings),
    )
    runners = _runners(public, settings, metrics)
    try:
        for runner, port in runners:
            await runner.setup()
            await web.TCPSite(runner, host, port).start()
        logger.info("folio listening on %s:%d (HTTP mode)", host, settings.port)
        await stop.wait()
    finally:
        for runner, _ in runners:
            await runner.cleanup()


def _runners(
    public: web.Application, settings: Settings, metrics: Metrics
) -> list[tuple[web.AppRunner, int]]:
    runners = [(web.AppRunner(public, handle_signals=False, access_log=None), settings.port)]
    if settings.metrics_port:
        runner = web.AppRunner(metrics_app(metrics), handle_signals=False, access_log=None)
        runners.append((runner, settings.metrics_port))
    return runners


async def run_socket(app: AsyncApp, *, settings: Settings, stop: asyncio.Event) -> None:
    """Hold a Socket Mode connection until ``stop`` is set."""
    if settings.slack_app_token is None:
        raise ConfigError(detail="SLACK_APP_TOKEN is required for Socket Mode.")
    handler = AsyncSocketModeHandler(app, settings.slack_app_token.value)
    await handler.connect_async()  # type: ignore[no-untyped-call]
    logger.info("folio connected to Slack (Socket Mode)")
    try:
        await stop.wait()
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
