"""Where folio's replies go (a thread, or privately to one person) and its status reactions."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from bot.render import RenderedMessage

logger = logging.getLogger(__name__)

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

    async def send(self, client: AsyncWebClient, message: RenderedMessage) -> str | None:
        """Post ``message`` here; returns the new message's ts (None for ephemeral notes)."""
        if self.user is not None:
            await client.chat_postEphemeral(
                channel=self.channel,
                user=self.user,
                thread_ts=self.thread_ts,
                text=message.text,
                blocks=message.blocks or None,
            )
            return None
        response = await client.chat_postMessage(
            channel=self.channel,
            thread_ts=self.thread_ts,
            text=message.text,
            blocks=message.blocks or None,
            unfurl_links=False,
            unfurl_media=False,
        )
        return str(response["ts"])


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


async def react(client: AsyncWebClient, channel: str, ts: str, name: str) -> None:
    """Add a reaction; failures are cosmetic, so they are only logged."""
    try:
        await client.reactions_add(channel=channel, timestamp=ts, name=name)
    except (SlackApiError, SlackRequestError, OSError) as exc:
        logger.debug("could not add :%s: to %s/%s: %s", name, channel, ts, _reason(exc))


async def unreact(client: AsyncWebClient, channel: str, ts: str, name: str) -> None:
    """Remove a reaction folio added; failures are cosmetic, so they are only logged."""
    try:
        await client.reactions_remove(channel=channel, timestamp=ts, name=name)
    except (SlackApiError, SlackRequestError, OSError) as exc:
        logger.debug("could not remove :%s: from %s/%s: %s", name, channel, ts, _reason(exc))


@asynccontextmanager
async def working(client: AsyncWebClient, channel: str, ts: str) -> AsyncIterator[None]:
    """Show a reaction on the question while folio works on it, removed however it ends."""
    await react(client, channel, ts, WORKING)
    try:
        yield
    finally:
        await unreact(client, channel, ts, WORKING)


def _reason(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error"))
    return type(exc).__name__
