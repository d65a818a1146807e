"""Builders for what Slack sends an app: events, slash commands, block actions, signatures.

The shapes follow Slack's documented payloads (Events API ``event_callback`` wrappers,
slash-command form fields, ``block_actions`` payloads), trimmed to the fields apps read.
``sign`` produces the ``X-Slack-Signature`` headers exactly as Slack computes them.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

TEAM_ID = "T0FOLIO"
TEAM_DOMAIN = "folio-test"
APP_ID = "A0FOLIO"
BOT_ID = "B0FOLIO"
BOT_USER_ID = "U0FOLIOBOT"
USER_ID = "U0ALICE"
CHANNEL_ID = "C0GENERAL"
DOCS_CHANNEL_ID = "C0DOCS"  # where the tests share documents
DM_CHANNEL_ID = "D0ALICE"  # alice's direct messages with folio
VERIFICATION_TOKEN = "legacy-verification-token"

_ts_counter = itertools.count(1)
_TS_BASE = int(time.time())


def next_ts() -> str:
    """A fresh, increasing Slack message timestamp such as ``"1700000000.000001"``."""
    return f"{_TS_BASE}.{next(_ts_counter):06d}"


def _rich_text(text: str) -> list[dict[str, Any]]:
    """The ``blocks`` Slack attaches to a typed message (one plain rich_text section)."""
    return [
        {
            "type": "rich_text",
            "block_id": uuid.uuid4().hex[:5],
            "elements": [
                {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
            ],
        }
    ]


def app_mention_event(
    text: str,
    *,
    user: str = USER_ID,
    channel: str = CHANNEL_ID,
    ts: str | None = None,
    thread_ts: str | None = None,
    files: Sequence[Mapping[str, Any]] | None = None,
    mention_bot: bool = True,
    team: str = TEAM_ID,
) -> dict[str, Any]:
    """An ``app_mention`` event; ``mention_bot`` prefixes ``<@BOT_USER_ID> `` to ``text``."""
    ts = ts or next_ts()
    full = f"<@{BOT_USER_ID}> {text}" if mention_bot else text
    event: dict[str, Any] = {
        "type": "app_mention",
        "client_msg_id": str(uuid.uuid4()),
        "text": full,
        "user": user,
        "ts": ts,
        "team": team,
        "blocks": _rich_text(full),
        "channel": channel,
        "event_ts": ts,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    if files:
        event["files"] = [dict(f) for f in files]
        event["upload"] = False
    return event


def message_event(
    text: str = "",
    *,
    user: str | None = USER_ID,
    channel: str = CHANNEL_ID,
    channel_type: str = "channel",
    ts: str | None = None,
    thread_ts: str | None = None,
    files: Sequence[Mapping[str, Any]] | None = None,
    subtype: str | None = None,
    bot_id: str | None = None,
    team: str = TEAM_ID,
) -> dict[str, Any]:
    """A ``message`` event (``channel_type`` "im" for DMs); files make it ``file_share``."""
    ts = ts or next_ts()
    event: dict[str, Any] = {
        "type": "message",
        "text": text,
        "ts": ts,
        "team": team,
        "channel": channel,
        "event_ts": ts,
        "channel_type": channel_type,
    }
    if user is not None:
        event["user"] = user
    if bot_id is not None:
        event["bot_id"] = bot_id
        event["app_id"] = APP_ID if bot_id == BOT_ID else "A0OTHER"
    else:
        event["client_msg_id"] = str(uuid.uuid4())
    if text:
        event["blocks"] = _rich_text(text)
    if files:
        event["files"] = [dict(f) for f in files]
        event["upload"] = False
        event["display_as_bot"] = False
        subtype = subtype or "file_share"
    if subtype:
        event["subtype"] = subtype
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def file_share_message_event(
    files: Sequence[Mapping[str, Any]], *, text: str = "", **kwargs: Any
) -> dict[str, Any]:
    """The ``message`` event with subtype ``file_share`` Slack sends when files are shared."""
    return message_event(text, files=files, subtype="file_share", **kwargs)


def file_shared_event(
    file_id: str, *, channel: str = CHANNEL_ID, user: str = USER_ID
) -> dict[str, Any]:
    """A ``file_shared`` event (it carries only the file id; apps call files.info)."""
    ts = next_ts()
    return {
        "type": "file_shared",
        "channel_id": channel,
        "file_id": file_id,
        "user_id": user,
        "file": {"id": file_id},
        "event_ts": ts,
    }


def file_deleted_event(file_id: str, *, channels: Sequence[str] = (CHANNEL_ID,)) -> dict[str, Any]:
    """A ``file_deleted`` event."""
    return {
        "type": "file_deleted",
        "file_id": file_id,
        "channel_ids": list(channels),
        "event_ts": next_ts(),
    }


def file_unshared_event(file_id: str, *, channel: str | None = None) -> dict[str, Any]:
    """A ``file_unshared`` event (``channel`` adds the channel_id newer payloads carry)."""
    event: dict[str, Any] = {
        "type": "file_unshared",
        "file_id": file_id,
        "file": {"id": file_id},
        "event_ts": next_ts(),
    }
    if channel is not None:
        event.update(channel_id=channel, user_id=USER_ID)
    return event


def file_change_event(file_id: str) -> dict[str, Any]:
    """A ``file_change`` event (a file was edited; it carries only the id)."""
    return {"type": "file_change", "file_id": file_id, "file": {"id": file_id}}


def app_home_opened_event(user: str = USER_ID, *, channel: str = "D0HOME") -> dict[str, Any]:
    """An ``app_home_opened`` event for the Home tab."""
    return {
        "type": "app_home_opened",
        "user": user,
        "channel": channel,
        "tab": "home",
        "event_ts": next_ts(),
    }


def assistant_thread_started_event(
    user: str = USER_ID,
    *,
    channel: str = DM_CHANNEL_ID,
    thread_ts: str | None = None,
    context_channel: str | None = CHANNEL_ID,
) -> dict[str, Any]:
    """An ``assistant_thread_started`` event: someone opened folio's agent view."""
    ts = next_ts()
    context: dict[str, Any] = {"channel_id": context_channel, "team_id": TEAM_ID}
    context["enterprise_id"] = None
    return {
        "type": "assistant_thread_started",
        "assistant_thread": {
            "user_id": user,
            "context": context if context_channel else {},
            "channel_id": channel,
            "thread_ts": thread_ts or ts,
        },
        "event_ts": ts,
    }


def event_callback(
    event: Mapping[str, Any],
    *,
    event_id: str | None = None,
    team_id: str = TEAM_ID,
    event_time: int | None = None,
) -> dict[str, Any]:
    """Wrap an event the way the Events API delivers it (``type: event_callback``)."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "context_team_id": team_id,
        "context_enterprise_id": None,
        "api_app_id": APP_ID,
        "event": dict(event),
        "type": "event_callback",
        "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": event_time or int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{uuid.uuid4().hex}",
    }


def slash_command_body(
    command: str = "/folio",
    text: str = "",
    *,
    user_id: str = USER_ID,
    channel_id: str = CHANNEL_ID,
    channel_name: str = "general",
    team_id: str = TEAM_ID,
    response_url: str = "https://hooks.slack.com/commands/T0FOLIO/1/abc",
) -> dict[str, str]:
    """The form fields Slack posts for a slash command (also a Socket Mode payload)."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": f"{uuid.uuid4().int % 10**13}.{uuid.uuid4().hex[:8]}",
    }


def block_actions_payload(
    action_id: str,
    value: str,
    *,
    user: str = USER_ID,
    channel: str = CHANNEL_ID,
    message_ts: str | None = None,
    thread_ts: str | None = None,
    block_id: str = "folio_feedback",
    team_id: str = TEAM_ID,
    ephemeral: bool = False,
    action_type: str = "button",
) -> dict[str, Any]:
    """A ``block_actions`` payload for a click on a bot message (``action_type``: "button",
    or "feedback_buttons", whose ``value`` is that of the 👍 or 👎 clicked).

    ``ephemeral``: the button sat in a note only the clicker sees; Slack then sends no
    ``message`` (apps cannot read an ephemeral message back).
    """
    message_ts = message_ts or next_ts()
    message: dict[str, Any] = {"type": "message", "ts": message_ts, "bot_id": BOT_ID}
    if thread_ts:
        message["thread_ts"] = thread_ts
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": team_id},
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": f"{uuid.uuid4().int % 10**13}.{uuid.uuid4().hex[:8]}",
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "general"},
        "message": message,
        "state": {"values": {}},
        "response_url": "https://hooks.slack.com/actions/T0FOLIO/1/abc",
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "value": value,
                "type": action_type,
                "action_ts": str(time.time()),
                "text": {"type": "plain_text", "text": action_id, "emoji": True},
            }
        ],
    }
    if ephemeral:
        payload["container"]["is_ephemeral"] = True
        del payload["message"]
    return payload


def view_submission_payload(
    view: dict[str, Any], values: dict[str, dict[str, Any]], *, user: str = USER_ID
) -> dict[str, Any]:
    """A ``view_submission`` payload for a modal opened with views.open (``view``: the view
    Slack returned); ``values`` maps block_id -> action_id -> the input's state."""
    return {
        "type": "view_submission",
        "team": {"id": view.get("team_id", TEAM_ID), "domain": TEAM_DOMAIN},
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": f"{uuid.uuid4().int % 10**13}.{uuid.uuid4().hex[:8]}",
        "view": {**view, "state": {"values": values}},
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def sign(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Slack's request-signing headers: ``v0=hex(hmac_sha256(secret, f"v0:{ts}:{body}"))``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + ts.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def _retry_headers(retry_num: int | None, retry_reason: str | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
    return headers


def event_request(
    body: Mapping[str, Any],
    secret: str,
    *,
    retry_num: int | None = None,
    retry_reason: str | None = None,
    timestamp: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A signed Events API POST: the JSON bytes and the headers (with retry headers if asked)."""
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **sign(raw, secret, timestamp)}
    return raw, {**headers, **_retry_headers(retry_num, retry_reason)}


def form_request(
    form: Mapping[str, str], secret: str, *, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """A signed form POST, as Slack sends slash commands."""
    raw = urlencode(form).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(raw, secret, timestamp)}
    return raw, headers


def interactive_request(
    payload: Mapping[str, Any], secret: str, *, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """A signed interactivity POST (``payload=<json>`` form), as Slack sends button clicks."""
    return form_request({"payload": json.dumps(payload)}, secret, timestamp=timestamp)
