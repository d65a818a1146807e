"""A local aiohttp server that speaks OpenAI's chat-completions API and records every call.

Tests point a real ``openai.AsyncOpenAI`` at ``fake.url + "/v1"``. Each request takes the
next scripted response if one is queued, otherwise the ``responder`` answers it from the
request JSON: with the completion's text, or with a ``Scripted`` reply (an error, say).
A request with ``"stream": true`` gets the text as server-sent ``chat.completion.chunk``
events, as OpenAI sends them: a role chunk, the content in pieces (``Scripted.pieces``, else
a few words each), a chunk with ``finish_reason`` and ``data: [DONE]``.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any

from aiohttp import web

Responder = Callable[[dict[str, Any]], "str | Scripted"]


@dataclass(frozen=True)
class Scripted:
    """One scripted reply: a completion ``content``, or an error ``status`` with ``body``.

    For a streamed request, ``pieces`` are the content's chunks (default: a few words each)
    and ``cut_after`` ends the stream abruptly after that many pieces (a dropped connection).
    """

    status: int = 200
    content: str | None = None
    body: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    pieces: Sequence[str] | None = None
    cut_after: int | None = None


@dataclass(frozen=True)
class Recorded:
    """One request the fake received."""

    path: str
    json: dict[str, Any]
    headers: Mapping[str, str]
    received_at: float

    @property
    def model(self) -> str:
        """The model the request asked for."""
        return str(self.json.get("model", ""))

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat messages sent."""
        return list(self.json.get("messages", []))

    def text(self) -> str:
        """Every text part of every message, joined; handy for assertions."""
        parts: list[str] = []
        for message in self.messages:
            content = message.get("content")
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                parts.extend(p.get("text", "") for p in content if p.get("type") == "text")
        return "\n".join(parts)

    def image_urls(self) -> list[str]:
        """The ``image_url`` parts' URLs, in order."""
        urls: list[str] = []
        for message in self.messages:
            content = message.get("content")
            if isinstance(content, list):
                urls.extend(p["image_url"]["url"] for p in content if p.get("type") == "image_url")
        return urls


def echo_responder(request: dict[str, Any]) -> str:
    """Default responder: a fixed sentence naming the model."""
    return f"fake completion from {request.get('model', '?')}"


class FakeOpenAI:
    """The fake server; use as ``async with FakeOpenAI() as fake``."""

    def __init__(self, responder: Responder = echo_responder, *, latency_s: float = 0.0) -> None:
        self.responder = responder
        self.latency_s = latency_s  # how long every unscripted reply takes (load benchmarks)
        self.requests: list[Recorded] = []
        self.max_concurrent = 0
        self._active = 0
        self._script: deque[Scripted] = deque()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    def script(self, *responses: Scripted) -> None:
        """Queue replies for the next requests, in order."""
        self._script.extend(responses)

    def reply(self, content: str, **kwargs: Any) -> None:
        """Queue one successful completion with ``content``."""
        self.script(Scripted(content=content, **kwargs))

    async def __aenter__(self) -> FakeOpenAI:
        # Real requests carry page images as data URLs: several MB, as OpenAI accepts.
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat_completions)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()  # releases handlers that simulate a hang
        if self._runner is not None:
            await self._runner.cleanup()

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        payload = await request.json()
        self.requests.append(
            Recorded(request.path, payload, dict(request.headers), time.monotonic())
        )
        self._active += 1
        self.max_concurrent = max(self.max_concurrent, self._active)
        try:
            scripted = self._script.popleft() if self._script else Scripted(delay_s=self.latency_s)
            if scripted.delay_s:
                try:
                    await asyncio.wait_for(self._closing.wait(), scripted.delay_s)
                except TimeoutError:
                    pass
            if payload.get("stream") and scripted.status == 200 and scripted.body is None:
                return await self._stream(request, scripted, payload)
            return self._respond(scripted, payload)
        finally:
            self._active -= 1

    def _respond(self, scripted: Scripted, payload: dict[str, Any]) -> web.Response:
        headers = dict(scripted.headers)
        if scripted.status != 200:
            body = scripted.body or _error_body(scripted.status)
            return web.json_response(dict(body), status=scripted.status, headers=headers)
        if scripted.body is not None:
            return web.json_response(dict(scripted.body), headers=headers)
        content = scripted.content
        if content is None:
            answered = self.responder(payload)
            if isinstance(answered, Scripted):  # its delay_s is not applied
                return self._respond(replace(answered, content=answered.content or ""), payload)
            content = answered
        return web.json_response(completion(str(payload.get("model")), content), headers=headers)

    async def _stream(
        self, request: web.Request, scripted: Scripted, payload: dict[str, Any]
    ) -> web.StreamResponse:
        content = scripted.content
        if content is None:
            answered = self.responder(payload)
            if isinstance(answered, Scripted):
                scripted = replace(answered, content=answered.content or "")
                content = scripted.content or ""
            else:
                content = answered
        pieces = list(scripted.pieces) if scripted.pieces is not None else _pieces(content)
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream; charset=utf-8", **scripted.headers}
        )
        await response.prepare(request)
        model = str(payload.get("model"))
        await _event(response, chunk(model, {"role": "assistant", "content": ""}))
        for number, piece in enumerate(pieces):
            if scripted.cut_after is not None and number >= scripted.cut_after:
                request.transport.close()  # type: ignore[union-attr]
                return response
            await _event(response, chunk(model, {"content": piece}))
        await _event(response, chunk(model, {}, finish_reason="stop"))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def _pieces(content: str) -> list[str]:
    """The content in chunks of about three words, as a model's tokens arrive."""
    words = re.findall(r"\s*\S+", content)
    pieces = ["".join(words[i : i + 3]) for i in range(0, len(words), 3)]
    tail = content[len("".join(pieces)) :]
    return [*pieces[:-1], pieces[-1] + tail] if pieces else ([tail] if tail else [])


async def _event(response: web.StreamResponse, data: dict[str, Any]) -> None:
    await response.write(f"data: {json.dumps(data)}\n\n".encode())


def chunk(model: str, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    """A chat.completion.chunk object as OpenAI streams it."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }


def completion(model: str, content: str) -> dict[str, Any]:
    """A chat.completion object as OpenAI returns it."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def _error_body(status: int) -> dict[str, Any]:
    kinds = {
        400: ("invalid_request_error", "bad request"),
        401: ("invalid_request_error", "Incorrect API key provided"),
        404: ("invalid_request_error", "The model does not exist"),
        429: ("rate_limit_exceeded", "Rate limit reached"),
    }
    kind, message = kinds.get(status, ("server_error", "The server had an error"))
    return {"error": {"message": message, "type": kind, "param": None, "code": kind}}


def dumps(recorded: Recorded) -> str:
    """Pretty JSON of one request, for failure messages."""
    return json.dumps(recorded.json, indent=1)[:2000]
