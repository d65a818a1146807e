"""A fake Slack on 127.0.0.1: Web API, file downloads, uploads and a Socket Mode websocket.

Modelled on bolt-python's ``tests/mock_web_api_server``, but async and stateful enough for
end-to-end tests. Point a real ``AsyncWebClient(base_url=fake.url + "/api/")`` at it. Every
HTTP request is recorded (``fake.requests``); Web API calls are also reachable by method
(``fake.calls("chat.postMessage")``). Files registered with ``add_file`` are served from
``/files-pri/...`` URLs on the host name you choose ("127.0.0.1" or "localhost" reach the
same server, so tests can model an allowed and a non-allowed host). Like real Slack, a file
download without a valid bot token gets an HTML login page.

Payload builders and request signing live in ``tests.fakes.slack_payloads`` and are
re-exported here.
"""

from __future__ import annotations

import json
import uuid
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, quote

from aiohttp import WSMsgType, web
from multidict import CIMultiDict

from tests.fakes.slack_payloads import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    CHANNEL_ID,
    DM_CHANNEL_ID,
    DOCS_CHANNEL_ID,
    TEAM_ID,
    USER_ID,
    app_home_opened_event,
    app_mention_event,
    assistant_thread_started_event,
    block_actions_payload,
    event_callback,
    event_request,
    file_change_event,
    file_deleted_event,
    file_share_message_event,
    file_shared_event,
    file_unshared_event,
    form_request,
    interactive_request,
    message_event,
    next_ts,
    sign,
    slash_command_body,
    view_submission_payload,
)
from tests.fakes.slack_state import FakeFile, Recorded, SlackState
from tests.fakes.slack_web import dispatch

__all__ = [
    "APP_ID",
    "BOT_ID",
    "BOT_USER_ID",
    "CHANNEL_ID",
    "DM_CHANNEL_ID",
    "DOCS_CHANNEL_ID",
    "TEAM_ID",
    "USER_ID",
    "FakeFile",
    "FakeSlack",
    "Recorded",
    "app_home_opened_event",
    "app_mention_event",
    "assistant_thread_started_event",
    "block_actions_payload",
    "event_callback",
    "event_request",
    "file_change_event",
    "file_deleted_event",
    "file_share_message_event",
    "file_shared_event",
    "file_unshared_event",
    "form_request",
    "interactive_request",
    "message_event",
    "next_ts",
    "sign",
    "slash_command_body",
    "view_submission_payload",
]

LOGIN_PAGE = (
    b"<!DOCTYPE html>\n<html lang='en'><head><title>Slack</title></head>"
    b"<body><form action='/signin'>Sign in to folio-test</form></body></html>"
)


class FakeSlack(SlackState):
    """The fake Slack server; ``await start()`` then use ``url``; ``await stop()`` at the end."""

    def __init__(self, *, team_id: str = TEAM_ID, bot_user_id: str = BOT_USER_ID) -> None:
        super().__init__(team_id=team_id, bot_user_id=bot_user_id)
        self._sockets: list[web.WebSocketResponse] = []
        self._runner: web.AppRunner | None = None

    # lifecycle -----------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """The Web API base URL for ``AsyncWebClient(base_url=...)``."""
        return f"{self.url}/api/"

    async def start(self) -> FakeSlack:
        """Listen on a random port on 127.0.0.1."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/files-pri/{team_file}/{tail:.*}", self._download)
        app.router.add_get("/files-redirected/{file_id}/{tail:.*}", self._redirected)
        app.router.add_post("/upload/v1/{upload_id}", self._upload)
        app.router.add_get("/link/", self._socket)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        """Close websockets and stop listening."""
        for ws in list(self._sockets):
            await ws.close(code=1001, message=b"server shutdown")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # HTTP handlers -------------------------------------------------------------------

    def _record(self, request: web.Request, kind: str, method: str, body: bytes) -> Recorded:
        recorded = Recorded(
            kind=kind,
            method=method,
            http_method=request.method,
            path=request.path_qs,
            host=request.headers.get("Host", ""),
            headers=CIMultiDict(request.headers),
            body=body,
        )
        self.requests.append(recorded)
        self.notify()
        return recorded

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body = await request.read()
        call = self._record(request, "api", method, body)
        call.params = _parse_params(request, body)
        queued = self.failures.get(method)
        if queued:
            error, status, retry_after = queued.pop(0)
            call.response = {"ok": False, "error": error}
            headers = {"Retry-After": str(retry_after)} if status == 429 else {}
            return web.json_response(call.response, status=status, headers=headers)
        call.response = dispatch(self, method, call)
        return web.json_response(call.response)

    async def _download(self, request: web.Request) -> web.StreamResponse:
        self._record(request, "download", request.path, b"")
        file_id = request.match_info["team_file"].rsplit("-", 1)[-1]
        fake = self.files.get(file_id)
        if fake is None:
            return web.Response(status=404, text="file not found")
        if fake.redirect_to:
            target = fake.redirect_to
            if "://" not in target:
                name = quote(fake.info["name"])
                target = f"http://{target}:{self.port}/files-redirected/{file_id}/{name}"
            raise web.HTTPFound(target)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
        if fake.login_page or self.auth_error("files", token):
            return web.Response(body=LOGIN_PAGE, content_type="text/html", charset="utf-8")
        return await self._serve(request, fake)

    async def _redirected(self, request: web.Request) -> web.StreamResponse:
        self._record(request, "download", request.path, b"")
        fake = self.files.get(request.match_info["file_id"])
        if fake is None:
            return web.Response(status=404, text="file not found")
        return await self._serve(request, fake)

    async def _serve(self, request: web.Request, fake: FakeFile) -> web.StreamResponse:
        if fake.gates:
            await fake.gates.pop(0).wait()
        if not fake.chunked:
            return web.Response(body=fake.data, headers={"Content-Type": fake.content_type})
        response = web.StreamResponse(headers={"Content-Type": fake.content_type})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(fake.data), 16_384):
            await response.write(fake.data[start : start + 16_384])
        await response.write_eof()
        return response

    async def _upload(self, request: web.Request) -> web.Response:
        body = await request.read()
        self._record(request, "upload", request.path, body)
        pending = self.pending_uploads.get(request.match_info["upload_id"])
        if pending is None:
            return web.Response(status=404, text="upload url not found")
        pending["data"] = body
        return web.Response(text=f"OK - {len(body)}", content_type="text/plain")

    async def _unknown(self, request: web.Request) -> web.Response:
        self._record(request, "unknown", request.path, await request.read())
        return web.Response(status=404, text="not found")

    # Socket Mode ---------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        self._record(request, "socket", request.path, b"")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        self.notify()
        try:
            await ws.send_json(
                {
                    "type": "hello",
                    "num_connections": len(self._sockets),
                    "debug_info": {"host": "applink-fake", "approximate_connection_time": 18060},
                    "connection_info": {"app_id": self.app_id},
                }
            )
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    data = json.loads(msg.data)
                    self.socket_messages.append(data)
                    if "envelope_id" in data:
                        self.acks[data["envelope_id"]] = data
                    self.notify()
        finally:
            self._sockets.remove(ws)
        return ws

    async def wait_for_socket(self, timeout: float = 10) -> None:  # noqa: ASYNC109
        """Wait until a Socket Mode client is connected."""
        await self.until(
            lambda: self._sockets or None, timeout, lambda: "no Socket Mode connection"
        )

    async def send_envelope(
        self,
        type: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool = False,
        retry_attempt: int = 0,
        retry_reason: str = "",
        timeout: float = 10,  # noqa: ASYNC109
    ) -> str:
        """Push an ``events_api`` / ``slash_commands`` / ``interactive`` envelope; its id."""
        await self.wait_for_socket(timeout)
        envelope_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": type,
            "accepts_response_payload": accepts_response_payload,
        }
        if type == "events_api":
            envelope.update({"retry_attempt": retry_attempt, "retry_reason": retry_reason})
        await self._sockets[-1].send_json(envelope)
        return envelope_id

    async def send_disconnect(self, reason: str = "refresh_requested") -> None:
        """Tell the connected client to reconnect, as Slack does every few hours."""
        await self.wait_for_socket()
        await self._sockets[-1].send_json(
            {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake"}}
        )

    async def wait_for_ack(
        self,
        envelope_id: str,
        timeout: float = 10,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        """Wait for the client's ack of ``envelope_id``; returns the ack message."""
        return await self.until(
            lambda: self.acks.get(envelope_id), timeout, lambda: f"envelope {envelope_id} not acked"
        )


def _parse_params(request: web.Request, body: bytes) -> dict[str, Any]:
    """Query string + form or JSON body, with JSON-string fields (blocks, view...) decoded."""
    params: dict[str, Any] = dict(request.query)
    content_type = request.content_type
    if body and content_type == "application/json":
        params.update(json.loads(body))
    elif body and content_type == "application/x-www-form-urlencoded":
        params.update(parse_qsl(body.decode(), keep_blank_values=True))
    for key in ("blocks", "view", "files", "attachments"):
        value = params.get(key)
        if isinstance(value, str) and value[:1] in "[{":
            params[key] = json.loads(value)
    return params
