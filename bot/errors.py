"""The bot's one error handler: a FolioError becomes a reply, anything else an apology.

Listeners let errors propagate; bolt hands them here. The reply goes where the request
naturally answers (the event's thread, or privately to whoever ran a command), unless a
listener named another place in the context under ``REPLY_KEY`` (a `/folio ask` thread).
Developer mistakes (ConfigError) and bugs are logged with their traceback and never shown.
A store that is down (StoreError) is apologised for once, and only to a question addressed
to folio (``bot.outage``): a message folio merely overheard gets nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from bot import render
from bot.gateway import SlackGateway
from bot.metrics import Metrics
from bot.outage import OutageReplies
from bot.replies import Reply, reply_for
from rag import ChatError, ConfigError, DuplicateDocument, FolioError, StoreError

logger = logging.getLogger(__name__)

REPLY_KEY = "folio_reply"
APOLOGY = (
    "Sorry, folio hit an unexpected problem and could not finish that; the team has been told."
)

ErrorHandler = Callable[..., Awaitable[None]]


def user_message(error: BaseException) -> str:
    """What the person sees: a FolioError's user_message, else a short apology."""
    if isinstance(error, FolioError) and not isinstance(error, ConfigError):
        return error.user_message
    return APOLOGY


def error_handler(gateway: SlackGateway, metrics: Metrics, outage: OutageReplies) -> ErrorHandler:
    """The function to register with ``app.error``."""

    async def handle_error(
        error: Exception, body: dict[str, Any], context: Mapping[str, Any]
    ) -> None:
        metrics.inc("folio_errors_total", kind=_kind(error))
        if isinstance(error, ChatError):
            logger.warning("Slack failed for %s: %s", _what(body), error.detail or "(no detail)")
        elif isinstance(error, FolioError) and not isinstance(error, ConfigError):
            logger.info(
                "%s for %s: %s", type(error).__name__, _what(body), error.detail or "(no detail)"
            )
        else:
            logger.error("unexpected error handling %s", _what(body), exc_info=error)
        if isinstance(error, StoreError) and not isinstance(error, DuplicateDocument):
            await outage.apologize(body, error)
            return
        reply = context.get(REPLY_KEY)
        target = reply if isinstance(reply, Reply) else reply_for(body)
        if target is None:
            return
        try:
            await gateway.send(target, render.error_message(user_message(error)))
        except ChatError as exc:
            logger.warning("could not tell the user about the error in %s: %s", target.channel, exc)

    return handle_error


def _kind(error: BaseException) -> str:
    """The error's class for metrics; a Slack failure counts as Slack's own error class."""
    if isinstance(error, ChatError) and error.__cause__ is not None:
        return type(error.__cause__).__name__
    return type(error).__name__


def _what(body: Mapping[str, Any]) -> str:
    """A loggable description of a request: ids only, never message text."""
    event = body.get("event")
    if isinstance(event, Mapping):
        return (
            f"event {event.get('type')} {body.get('event_id')} "
            f"in {event.get('channel') or event.get('channel_id')}"
        )
    if body.get("command"):
        return f"command {body.get('command')} in {body.get('channel_id')}"
    return f"request of type {body.get('type')}"
