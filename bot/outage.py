"""While a store is down: one threaded apology per question addressed to folio, nothing else.

With the database or the vector index unreachable folio can neither answer nor tell a repeated
delivery from a new one. A mention, a DM or a command gets one short apology in its thread (or
privately, for a command); Slack's retries of the same question, and ordinary channel messages
folio merely listens to, get nothing. The questions apologised for are remembered in this
process for an hour.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from bot import render
from bot.gateway import SlackGateway
from bot.metrics import Metrics
from bot.replies import Reply, reply_for
from rag import ChatError, StoreError

logger = logging.getLogger(__name__)

REMEMBER_S = 3600.0
REMEMBER_AT_MOST = 10_000


def addressed(body: Mapping[str, Any]) -> tuple[Reply, str | None] | None:
    """Where to apologise for a request addressed to folio, and the question's key.

    None for anything folio only overhears (channel messages, file shares, app home).
    Commands and button clicks are answered privately and are never redelivered (no key).
    """
    event = body.get("event")
    if isinstance(event, Mapping):
        direct = event.get("type") == "message" and event.get("channel_type") == "im"
        human = not event.get("bot_id") and not event.get("subtype")
        if (event.get("type") == "app_mention" or direct) and human:
            reply = reply_for(body)
            key = f"{event.get('channel')}:{event.get('ts')}"
            return (reply, key) if reply is not None else None
        return None
    if body.get("command") or body.get("type") == "block_actions":
        reply = reply_for(body)
        return (reply, None) if reply is not None else None
    return None


class OutageReplies:
    """Says sorry once per addressed question while a store is down."""

    def __init__(
        self,
        *,
        gateway: SlackGateway,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._gateway = gateway
        self._metrics = metrics
        self._clock = clock
        self._told: OrderedDict[str, float] = OrderedDict()

    async def apologize(self, body: Mapping[str, Any], error: StoreError) -> bool:
        """Apologise for ``body`` if it was addressed to folio and not apologised for yet."""
        target = addressed(body)
        if target is None:
            return False
        reply, key = target
        if key is not None and not self._first_time(key):
            return False
        self._metrics.inc("folio_outage_replies_total")
        try:
            await self._gateway.send(reply, render.error_message(error.user_message))
        except ChatError as exc:
            logger.warning("could not apologise in %s: %s", reply.channel, exc)
        return True

    def _first_time(self, key: str) -> bool:
        now = self._clock()
        while self._told and (
            len(self._told) > REMEMBER_AT_MOST or next(iter(self._told.values())) < now - REMEMBER_S
        ):
            self._told.popitem(last=False)
        if key in self._told:
            return False
        self._told[key] = now
        return True
