"""What the fake Slack knows and remembers: users, channels, files, messages, requests.

``SlackState`` holds the directory tests set up (``add_user``, ``add_channel``,
``add_file``) and every request recorded by the server in ``tests.fakes.slack``, plus the
helpers tests use to wait for and inspect those requests.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

from multidict import CIMultiDict

from tests.fakes.slack_payloads import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    CHANNEL_ID,
    DM_CHANNEL_ID,
    DOCS_CHANNEL_ID,
    TEAM_DOMAIN,
    TEAM_ID,
    USER_ID,
    next_ts,
)

T = TypeVar("T")


@dataclass
class Recorded:
    """One HTTP request the fake received (``kind``: api, download, upload, socket, unknown)."""

    kind: str
    method: str
    http_method: str
    path: str
    host: str
    headers: CIMultiDict[str]
    params: dict[str, Any] = field(default_factory=dict)
    body: bytes = b""
    response: dict[str, Any] | None = None

    @property
    def authorization(self) -> str | None:
        """The raw Authorization header, if any."""
        return self.headers.get("Authorization")

    @property
    def token(self) -> str | None:
        """The token sent as a Bearer header or a ``token`` parameter."""
        auth = self.authorization or ""
        if auth.startswith("Bearer "):
            return auth.removeprefix("Bearer ").strip()
        token = self.params.get("token")
        return str(token) if token else None


@dataclass
class FakeFile:
    """A file the fake serves: its files.info dict, bytes and serving behaviour."""

    info: dict[str, Any]
    data: bytes
    content_type: str
    login_page: bool = False
    redirect_to: str | None = None
    chunked: bool = False
    # Downloads wait for these, one each, oldest first (a file server that stalls).
    gates: list[asyncio.Event] = field(default_factory=list)

    def hold_next_download(self) -> asyncio.Event:
        """Make the next download of this file wait until the returned event is set."""
        gate = asyncio.Event()
        self.gates.append(gate)
        return gate


class SlackState:
    """The fake's directory and its record of requests; the server in slack.py extends it."""

    def __init__(self, *, team_id: str = TEAM_ID, bot_user_id: str = BOT_USER_ID) -> None:
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = BOT_ID
        self.app_id = APP_ID
        self.invalid_auth = False
        self.requests: list[Recorded] = []
        self.files: dict[str, FakeFile] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.messages: list[dict[str, Any]] = []
        self.reactions: dict[tuple[str, str], list[str]] = {}
        self.uploads: list[dict[str, Any]] = []
        self.pending_uploads: dict[str, dict[str, Any]] = {}
        self.socket_messages: list[dict[str, Any]] = []
        self.acks: dict[str, dict[str, Any]] = {}
        self.failures: dict[str, list[tuple[str, int, int]]] = {}
        self.refusals: dict[str, tuple[str, int]] = {}
        self.statuses: dict[tuple[str, str], dict[str, Any]] = {}
        self.views: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self.port = 0
        self.changed = asyncio.Event()
        self.add_user(bot_user_id, name="folio", is_bot=True)
        # The workspace every test starts in: alice (who set it up, so an admin), #general,
        # #docs and alice's DM with folio. Anyone and anything else a test registers itself.
        self.add_user(USER_ID, name="alice", is_admin=True)
        self.add_channel(CHANNEL_ID, "general")
        self.add_channel(DOCS_CHANNEL_ID, "docs")
        self.add_channel(DM_CHANNEL_ID, is_im=True, user=USER_ID)

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT`` (the Web API lives under ``/api/``)."""
        return f"http://127.0.0.1:{self.port}"

    def notify(self) -> None:
        """Wake every waiter: something was recorded."""
        self.changed.set()
        self.changed = asyncio.Event()

    async def until(
        self,
        probe: Callable[[], T | None],
        timeout: float,  # noqa: ASYNC109 - the public waiters take a plain number of seconds
        failure: Callable[[], str],
    ) -> T:
        """Wait until ``probe`` returns something; TimeoutError naming ``failure()`` after."""
        try:
            async with asyncio.timeout(timeout):
                while (found := probe()) is None:
                    await self.changed.wait()
                return found
        except TimeoutError:
            raise TimeoutError(f"{failure()} within {timeout}s") from None

    # test setup ----------------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        """A fresh Slack-style id such as ``F0000000007``."""
        return f"{prefix}{next(self._ids):010d}"

    def add_channel(
        self,
        channel_id: str,
        name: str | None = None,
        *,
        is_private: bool = False,
        is_im: bool = False,
        user: str | None = None,
        is_ext_shared: bool = False,
        is_pending_ext_shared: bool = False,
        is_shared: bool = False,
    ) -> dict[str, Any]:
        """Register a channel for conversations.info (``is_im`` for a DM with ``user``).

        ``is_ext_shared``: a Slack Connect channel (its ``is_shared`` is then true as well,
        as Slack reports it); ``is_pending_ext_shared``: an invitation is out.
        """
        info: dict[str, Any] = {
            "id": channel_id,
            "created": int(time.time()) - 86_400,
            "is_archived": False,
            "is_im": is_im,
            "is_mpim": False,
            "is_private": is_private or is_im,
            "is_org_shared": False,
            "context_team_id": self.team_id,
        }
        if is_im:
            info.update({"user": user or USER_ID, "is_open": True, "is_user_deleted": False})
        else:
            info.update(
                {
                    "name": name or channel_id.lower(),
                    "is_channel": not is_private,
                    "is_group": is_private,
                    "is_general": False,
                    "is_member": True,
                    "is_shared": is_shared or is_ext_shared,
                    "is_ext_shared": is_ext_shared,
                    "is_pending_ext_shared": is_pending_ext_shared,
                }
            )
        self.channels[channel_id] = info
        return info

    def add_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        is_admin: bool = False,
        is_owner: bool = False,
        is_bot: bool = False,
        is_restricted: bool = False,
        is_ultra_restricted: bool = False,
        team_id: str | None = None,
    ) -> dict[str, Any]:
        """Register a user for users.info.

        ``is_restricted``: a multi-channel guest; ``is_ultra_restricted``: a single-channel
        guest (Slack sets ``is_restricted`` too); ``team_id``: another organisation's member.
        """
        name = name or user_id.lower()
        info = {
            "id": user_id,
            "team_id": team_id or self.team_id,
            "name": name,
            "real_name": name.title(),
            "deleted": False,
            "is_admin": is_admin,
            "is_owner": is_owner,
            "is_primary_owner": False,
            "is_restricted": is_restricted or is_ultra_restricted,
            "is_ultra_restricted": is_ultra_restricted,
            "is_bot": is_bot,
            "is_app_user": False,
            "tz": "Europe/Amsterdam",
            "profile": {"real_name": name.title(), "display_name": name, "team": self.team_id},
        }
        self.users[user_id] = info
        return info

    def add_file(
        self,
        file_id: str,
        name: str,
        data: bytes,
        mimetype: str,
        *,
        content_type: str | None = None,
        host: str | None = None,
        login_page: bool = False,
        redirect_to: str | None = None,
        chunked: bool = False,
        user: str = USER_ID,
        channels: tuple[str, ...] = (),
        title: str | None = None,
        created: int | None = None,
    ) -> dict[str, Any]:
        """Register a file; returns its files.info dict with url_private on ``host``.

        ``login_page`` serves an HTML sign-in page (200, text/html) instead of the bytes;
        ``redirect_to`` (a host name or a full URL) answers 302 to that host, which serves
        the bytes without checking the token; ``chunked`` omits Content-Length;
        ``content_type`` overrides the served Content-Type (default: ``mimetype``).
        """
        if not self.port:
            raise RuntimeError("start the fake Slack before add_file: URLs carry its port")
        base = f"http://{host or '127.0.0.1'}:{self.port}/files-pri/{self.team_id}-{file_id}"
        info = self.file_info(file_id, name, len(data), mimetype, user, title)
        if created is not None:
            info.update(created=created, timestamp=created)
        info.update(
            {
                "url_private": f"{base}/{quote(name)}",
                "url_private_download": f"{base}/download/{quote(name)}",
                "channels": [c for c in channels if c.startswith("C")],
                "groups": [c for c in channels if c.startswith("G")],
                "ims": [c for c in channels if c.startswith("D")],
            }
        )
        self.files[file_id] = FakeFile(
            info=info,
            data=data,
            content_type=content_type or mimetype,
            login_page=login_page,
            redirect_to=redirect_to,
            chunked=chunked,
        )
        return info

    def add_message(
        self,
        text: str,
        *,
        channel: str,
        user: str = USER_ID,
        ts: str | None = None,
        thread_ts: str | None = None,
        bot_id: str | None = None,
    ) -> dict[str, Any]:
        """A message someone posted (conversations.replies returns it); its event form."""
        message: dict[str, Any] = {
            "channel": channel,
            "type": "message",
            "user": user,
            "text": text,
            "ts": ts or next_ts(),
        }
        if thread_ts:
            message["thread_ts"] = thread_ts
        if bot_id:
            message["bot_id"] = bot_id
        self.messages.append(message)
        return message

    def change_file(self, file_id: str, data: bytes) -> dict[str, Any]:
        """Replace a file's bytes (an edit in Slack keeps the id); its updated info."""
        stored = self.files[file_id]
        stored.data = data
        stored.info.update(size=len(data), updated=int(time.time()))
        return stored.info

    def unshare_file(self, file_id: str, channel: str) -> dict[str, Any]:
        """Take a file out of one channel; its updated info."""
        info = self.files[file_id].info
        for key in ("channels", "groups", "ims"):
            info[key] = [c for c in info.get(key, ()) if c != channel]
        return info

    def file_info(
        self, file_id: str, name: str, size: int, mimetype: str, user: str, title: str | None
    ) -> dict[str, Any]:
        """A files.info ``file`` dict without URLs."""
        now = int(time.time())
        filetype = name.rsplit(".", 1)[-1].lower() if "." in name else "binary"
        return {
            "id": file_id,
            "created": now,
            "timestamp": now,
            "name": name,
            "title": title or name,
            "mimetype": mimetype,
            "filetype": filetype,
            "pretty_type": filetype.upper(),
            "user": user,
            "user_team": self.team_id,
            "editable": False,
            "size": size,
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": True,
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "permalink": f"https://{TEAM_DOMAIN}.slack.com/files/{user}/{file_id}/{quote(name)}",
            "permalink_public": f"https://slack-files.com/{self.team_id}-{file_id}-0",
            "has_rich_preview": False,
            "file_access": "visible",
            "shares": {},
        }

    def fail_next(
        self,
        method: str,
        error: str = "ratelimited",
        *,
        status: int = 429,
        times: int = 1,
        retry_after: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail (a 429 carries ``retry_after``)."""
        self.failures.setdefault(method, []).extend([(error, status, retry_after)] * times)

    def refuse(self, method: str, error: str = "missing_scope", *, after: int = 0) -> None:
        """Answer every ``method`` call after the first ``after`` with ``ok: false, error``
        (``missing_scope``, ``not_allowed``; ``message_not_in_streaming_state`` for a stream
        that expired), as a workspace without that scope or feature does."""
        self.refusals[method] = (error, after)

    def refusal(self, method: str) -> str | None:
        """The error ``refuse`` set for this call of ``method``, or None to let it through."""
        if method not in self.refusals:
            return None
        error, after = self.refusals[method]
        if after > 0:
            self.refusals[method] = (error, after - 1)
            return None
        return error

    # inspection ----------------------------------------------------------------------

    def calls(self, method: str) -> list[Recorded]:
        """Recorded Web API calls of ``method`` (e.g. "chat.postMessage"), in order."""
        return [r for r in self.requests if r.kind == "api" and r.method == method]

    @property
    def downloads(self) -> list[Recorded]:
        """Every file download request (allowed host or not), in order."""
        return [r for r in self.requests if r.kind == "download"]

    async def wait_for(
        self,
        method: str,
        predicate: Callable[[Recorded], bool] | None = None,
        timeout: float = 10,  # noqa: ASYNC109 - a plain number keeps test call sites short
    ) -> Recorded:
        """Wait until a ``method`` call matching ``predicate`` is recorded; return it."""

        def probe() -> Recorded | None:
            calls = self.calls(method)
            return next((c for c in calls if predicate is None or predicate(c)), None)

        def failure() -> str:
            seen = [c.method for c in self.requests if c.kind == "api"]
            return f"no matching {method} call; saw {seen}"

        return await self.until(probe, timeout, failure)

    def thread(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """Messages the bot posted in a thread (the parent too if it posted it)."""
        return [
            m
            for m in self.messages
            if m["channel"] == channel and thread_ts in (m.get("thread_ts"), m["ts"])
        ]

    def uploads_in(self, channel: str, thread_ts: str | None = None) -> list[dict[str, Any]]:
        """completeUploadExternal records for a channel (and thread, if given)."""
        return [
            u
            for u in self.uploads
            if u["channel_id"] == channel and (thread_ts is None or u["thread_ts"] == thread_ts)
        ]

    def auth_error(self, method: str, token: str | None) -> str | None:
        """The error Slack gives ``token`` for ``method``, or None when it is accepted."""
        if self.invalid_auth:
            return "invalid_auth"
        if not token:
            return "not_authed"
        if method == "apps.connections.open":
            return None if token.startswith("xapp-") else "not_allowed_token_type"
        if token.startswith(("xoxb-", "xoxp-")):
            return None
        return "not_allowed_token_type" if token.startswith("xapp-") else "invalid_auth"
