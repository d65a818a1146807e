"""Where folio's replies go (a thread, or privately to one person) and its status reactions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

WORKING = "eyes"
QUEUED = "hourglass_flowing_sand"
DONE = "white_check_mark"
FAILED = "x"


@dataclass(frozen=True, slots=True)
class Reply:
    """A place to answer: a thread in a channel, or (with ``user``) a note only they see."""

    channel: str
    thread_ts: str | None = None
    user: str | None = None


def reply_for(body: Mapping[str, Any]) -> Reply | None:
    """The natural place to answer a Slack request: the event's thread, or the person."""
    event = body.get("event")
    if isinstance(event, Mapping) and event.get("channel") and event.get("ts"):
        return Reply(str(event["channel"]), str(event.get("thread_ts") or event["ts"]))
    if body.get("command") and body.get("channel_id") and body.get("user_id"):
        return Reply(str(body["channel_id"]), user=str(body["user_id"]))
    user = body.get("user")
    channel = body.get("channel")
    if isinstance(user, Mapping) and isinstance(channel, Mapping):
        message = body.get("message") or {}
        thread = message.get("thread_ts") if isinstance(message, Mapping) else None
        return Reply(str(channel["id"]), thread_ts=thread, user=str(user["id"]))
    return None


def host_team(context: Mapping[str, Any]) -> str:
    """The workspace folio is installed in, whose rules apply to every request it handles.

    In a Slack Connect channel a command or event can carry another organisation's team id
    (a command's ``team_id``, an event's ``team`` or ``user_team``). folio's bot token
    belongs to one workspace; bolt keeps its auth.test answer as ``authorize_result``.
    """
    result = context.get("authorize_result")
    team = getattr(result, "team_id", None) or context.get("team_id")
    return str(team or "")
