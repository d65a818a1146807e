"""Drive the real bot the way Slack does, over HTTP or Socket Mode, against the fake Slack.

``running_bot`` opens real rag services on a temp data dir, builds the app over their use
cases (``services.folio``) with ``bot.app.build_app`` and the client from
``bot.cli.slack_client``, runs an in-process JobRunner (as ``folio serve`` does with the
embedded stores) and serves the app through
``bot.server.web_app`` (signed HTTP requests) or an ``AsyncSocketModeHandler`` connected
to the fake's websocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pymupdf
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import Parts, build_app, build_parts
from bot.cli import slack_client
from bot.metrics import Metrics
from bot.server import EVENTS_PATH, web_app
from bot.tasks import InFlight
from rag import JobRunner, Services, Settings, open_services
from rag.answer._prompts import CAPTION_SYSTEM, DESCRIBE_SYSTEM, REWRITE_SYSTEM
from rag.db.models import SlackEventRow
from tests.fakes.slack import (
    CHANNEL_ID,
    DOCS_CHANNEL_ID,
    TEAM_ID,
    USER_ID,
    FakeSlack,
    Recorded,
    event_callback,
    event_request,
    file_share_message_event,
    form_request,
    interactive_request,
    slash_command_body,
)

BOT_TOKEN = "xoxb-folio-test-token"
APP_TOKEN = "xapp-folio-test-token"
SECRET = "folio-test-signing-secret"
METRICS_TOKEN = "folio-test-metrics-token"
DOCS_CHANNEL = DOCS_CHANNEL_ID
WAIT_S = 30.0


def pdf_bytes(pages: list[str]) -> bytes:
    """A real PDF with one page per text (PyMuPDF)."""
    document = pymupdf.open()
    for text in pages:
        page = document.new_page()
        page.insert_textbox(pymupdf.Rect(72, 72, 540, 760), text, fontsize=12)
    data = document.tobytes()
    document.close()
    return bytes(data)


def png_bytes(color: tuple[int, int, int] = (200, 40, 40), size: int = 48) -> bytes:
    """A small real PNG."""
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buffer, format="PNG")
    return buffer.getvalue()


PICTURE_DESCRIPTION = "A red square chart about the payload size of the report."
MODEL_ANSWER = "The report's payload size is 42 kilobytes [1]."


def vision_responder(request: dict[str, Any]) -> str:
    """What the fake model says: a description, a caption, a rewrite, or a cited answer."""
    messages = request.get("messages") or [{}]
    system = str(messages[0].get("content") or "")
    if system == DESCRIBE_SYSTEM:
        return PICTURE_DESCRIPTION
    if system == CAPTION_SYSTEM:
        return "A page of a report."
    if system == REWRITE_SYSTEM:
        return "What is the payload size of the report?"
    return MODEL_ANSWER


def openai_env(url: str) -> dict[str, str]:
    """Environment values that point folio's model client at a fake OpenAI server."""
    return {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": url + "/v1"}


def bot_settings(
    fake: FakeSlack,
    data_dir: Path,
    clip_dir: Path,
    text_dir: Path,
    *,
    socket: bool = False,
    **extra: str,
) -> Settings:
    """Settings for a bot pointed at the fake Slack; ``extra`` adds environment values."""
    env = {
        "FOLIO_DATA_DIR": str(data_dir),
        "FOLIO_CLIP_MODEL": str(clip_dir),
        "FOLIO_TEXT_MODEL": str(text_dir),
        "SLACK_API_URL": fake.api_url,
        "FOLIO_SLACK_FILE_HOSTS": "127.0.0.1",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "FOLIO_INDEX_CHANNELS": DOCS_CHANNEL,
        "FOLIO_PARSE_TIMEOUT_S": "60",
        "FOLIO_METRICS_TOKEN": METRICS_TOKEN,
        # Tests ask many questions quickly, and mostly send a mention without its message
        # event; the tests of rate limits and of late files set these themselves.
        "FOLIO_RATE_USER_PER_MIN": "0",
        "FOLIO_RATE_CHANNEL_PER_MIN": "0",
        "FOLIO_MENTION_FILES_WAIT_S": "0",
        **extra,
    }
    if socket:
        env["SLACK_APP_TOKEN"] = APP_TOKEN
    return Settings.from_env(env)


@dataclass
class Bot:
    """A running bot and ways to talk to it like Slack does."""

    fake: FakeSlack
    settings: Settings
    services: Services
    app: AsyncApp
    metrics: Metrics
    inflight: InFlight
    mode: str
    http: TestClient[Any, Any] | None = None
    statuses: list[int] = field(default_factory=list)
    parts: Parts | None = None  # the worker's parts (its own Slack directory cache)

    # sending ------------------------------------------------------------------------

    async def event(
        self,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
    ) -> dict[str, Any]:
        """Deliver an event (HTTP: a signed POST; Socket Mode: an envelope); its callback."""
        body = event_callback(event, event_id=event_id)
        await self.deliver(body, retry_num=retry_num)
        return body

    async def deliver(self, body: dict[str, Any], *, retry_num: int | None = None) -> None:
        """Deliver an already wrapped event_callback body."""
        if self.http is not None:
            raw, headers = event_request(body, SECRET, retry_num=retry_num)
            await self.post(raw, headers)
        else:
            envelope = await self.fake.send_envelope(
                "events_api",
                body,
                retry_attempt=retry_num or 0,
                retry_reason="timeout" if retry_num else "",
            )
            await self.fake.wait_for_ack(envelope)

    async def command(
        self, text: str, *, user: str = USER_ID, channel: str = CHANNEL_ID, team_id: str = TEAM_ID
    ) -> dict[str, str]:
        """Run `/folio text` as ``user`` in ``channel`` (``team_id``: the user's organisation)."""
        body = slash_command_body(text=text, user_id=user, channel_id=channel, team_id=team_id)
        if self.http is not None:
            await self.post(*form_request(body, SECRET))
        else:
            envelope = await self.fake.send_envelope("slash_commands", body)
            await self.fake.wait_for_ack(envelope)
        return body

    async def click(self, payload: dict[str, Any]) -> None:
        """Deliver a block_actions payload (a button click)."""
        if self.http is not None:
            await self.post(*interactive_request(payload, SECRET))
        else:
            envelope = await self.fake.send_envelope("interactive", payload)
            await self.fake.wait_for_ack(envelope)

    async def post(self, raw: bytes, headers: Mapping[str, str]) -> int:
        """POST raw bytes to /slack/events; the status is returned and kept in ``statuses``."""
        assert self.http is not None
        response = await self.http.post(EVENTS_PATH, data=raw, headers=dict(headers))
        await response.read()
        self.statuses.append(response.status)
        return response.status

    async def share(
        self,
        name: str,
        data: bytes,
        mimetype: str,
        *,
        channel: str = DOCS_CHANNEL,
        channel_type: str | None = "channel",
        user: str = USER_ID,
        **file_options: Any,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Share a file in a channel; (the message event, the file's info).

        ``channel_type=None`` leaves it out of the event, as some deliveries do.
        """
        info = self.fake.add_file(
            self.fake.new_id("F"),
            name,
            data,
            mimetype,
            channels=(channel,),
            user=user,
            **file_options,
        )
        event = file_share_message_event(
            [info], channel=channel, channel_type=channel_type or "channel", user=user
        )
        if channel_type is None:
            del event["channel_type"]
        await self.event(event)
        return event, info

    # waiting ------------------------------------------------------------------------

    async def indexed(self, channel: str, ts: str) -> Recorded:
        """Wait until the file message got ✅ or ❌; the line posted in its thread."""
        await self.fake.until(
            lambda: _any_of(self.fake.reactions.get((channel, ts), []), "white_check_mark", "x"),
            WAIT_S,
            lambda: f"no ✅/❌ on {channel}/{ts}; reactions {self.fake.reactions}",
        )
        return await self.fake.wait_for(
            "chat.postMessage",
            lambda c: c.params.get("channel") == channel and c.params.get("thread_ts") == ts,
            WAIT_S,
        )

    async def done(self, channel: str, ts: str) -> None:
        """Wait until folio finished with the question ``ts``: it claimed the question (the
        claim is made inside the listener) and no listener is running any more."""
        claim = f"ask:{self.fake.team_id}:{channel}:{ts}"
        await eventually(lambda: self._claimed(claim))
        assert await self.inflight.idle(WAIT_S), f"folio still busy after {claim}"

    async def _claimed(self, claim: str) -> bool:
        async with AsyncSession(self.services.engine) as session:
            return await session.get(SlackEventRow, claim) is not None

    def posted(self, channel: str, thread_ts: str) -> list[Recorded]:
        """chat.postMessage calls folio made in a thread."""
        return [
            c
            for c in self.fake.calls("chat.postMessage")
            if c.params.get("channel") == channel and c.params.get("thread_ts") == thread_ts
        ]

    def answers(self, channel: str, thread_ts: str) -> list[Recorded]:
        """Messages in a thread that carry the feedback buttons (one per answer): posted,
        or streamed (then the chat.stopStream call, its ``text`` the whole streamed text)."""
        posted = [c for c in self.posted(channel, thread_ts) if _has_feedback(c.params)]
        return posted + [c for c in self.streamed(channel, thread_ts) if _has_feedback(c.params)]

    def streamed(self, channel: str, thread_ts: str) -> list[Recorded]:
        """chat.stopStream calls that finished a stream in the thread, each with ``text``
        (everything streamed into its message) and ``thread_ts`` added to its params."""
        found = []
        for call in self.fake.calls("chat.stopStream"):
            message = next(
                (m for m in self.fake.messages if m["ts"] == call.params.get("ts")), None
            )
            if (
                message is not None
                and call.params.get("channel") == channel
                and message.get("thread_ts") == thread_ts
                and (call.response or {}).get("ok")
            ):
                params = {**call.params, "text": message["text"], "thread_ts": thread_ts}
                found.append(dataclasses.replace(call, params=params))
        return found

    def ephemerals(self, user: str = USER_ID) -> list[str]:
        """Texts of private notes posted to ``user``."""
        return [
            str(c.params.get("text"))
            for c in self.fake.calls("chat.postEphemeral")
            if c.params.get("user") == user
        ]


def text_of(call: Recorded) -> str:
    """Everything a posted message says: its text and all of its blocks, as JSON."""
    return f"{call.params.get('text', '')}\n{json.dumps(call.params.get('blocks') or [])}"


async def eventually(
    probe: Callable[[], Awaitable[Any]],
    *,
    empty: bool = False,
    timeout: float = WAIT_S,  # noqa: ASYNC109 - a plain number keeps call sites short
) -> Any:
    """Poll an async ``probe`` until its result is truthy (or, with ``empty``, falsy)."""
    async with asyncio.timeout(timeout):
        while True:
            result = await probe()
            if bool(result) != empty:
                return result
            await asyncio.sleep(0.05)


def _has_feedback(params: Mapping[str, Any]) -> bool:
    blocks = params.get("blocks") or []
    return any(b.get("block_id") == "folio_feedback" for b in blocks if isinstance(b, dict))


def _any_of(names: list[str], *wanted: str) -> bool | None:
    return True if any(name in names for name in wanted) else None


@contextlib.asynccontextmanager
async def running_bot(settings: Settings, fake: FakeSlack, mode: str) -> AsyncIterator[Bot]:
    """Open services, build the app, run a worker, and serve over ``mode``."""
    async with open_services(settings) as services, aiohttp.ClientSession() as session:
        client = slack_client(settings, session)
        metrics, inflight = Metrics(), InFlight()
        folio = services.folio
        app = build_app(
            settings, folio, client=client, session=session, metrics=metrics, inflight=inflight
        )
        bot = Bot(fake, settings, services, app, metrics, inflight, mode)
        parts = build_parts(settings, folio, client=client, session=session, metrics=metrics)
        bot.parts = parts
        runner = JobRunner(
            queue=folio.jobs, handler=parts.indexer, worker_id="test-worker", poll_s=0.05
        )
        stop = asyncio.Event()
        worker = asyncio.create_task(runner.run_forever(stop))
        try:
            async with _transport(bot, app, metrics, mode):
                yield bot
                await inflight.idle(WAIT_S)
        finally:
            stop.set()
            await worker


@contextlib.asynccontextmanager
async def _transport(bot: Bot, app: AsyncApp, metrics: Metrics, mode: str) -> AsyncIterator[None]:
    if mode == "http":
        token = bot.settings.metrics_token
        secret = bot.settings.slack_signing_secret
        assert secret is not None
        application = web_app(
            app,
            signing_secret=secret.value,
            inflight=bot.inflight,
            metrics=metrics,
            health=bot.services.folio.health,
            metrics_token=token.value if token else None,
        )
        async with TestClient(TestServer(application)) as http:
            bot.http = http
            yield
        return
    handler = AsyncSocketModeHandler(app, APP_TOKEN)
    await handler.connect_async()  # type: ignore[no-untyped-call]
    try:
        await bot.fake.wait_for_socket()
        yield
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
