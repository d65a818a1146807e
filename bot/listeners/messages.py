"""Message events: files shared in indexing channels, DMs, follow-ups in folio's threads, and
top-level questions in help channels (`/folio autoanswer on`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from bot.ask import SlackQuestion, Source
from bot.replies import host_team
from rag import looks_like_question

if TYPE_CHECKING:
    from bot.app import Parts

MessageKind = Literal["ignore", "dm", "index", "mention", "thread", "top"]

# Subtypes that carry something a person wrote or shared; edits, deletions, joins and
# the like are not questions.
USER_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})


def classify(event: Mapping[str, Any], bot_user_id: str | None, *, indexing: bool) -> MessageKind:
    """What a message event is to folio (``indexing``: its channel indexes file shares)."""
    if event.get("bot_id") or event.get("subtype") not in USER_SUBTYPES or not event.get("user"):
        return "ignore"
    if event.get("channel_type") == "im":
        return "dm"
    if indexing and event.get("files"):
        return "index"
    if mentions(event, bot_user_id):
        return "mention"  # the app_mention event answers it (with these files, if it lacks them)
    if event.get("thread_ts") and event.get("thread_ts") != event.get("ts"):
        return "thread"
    return "top"


def mentions(event: Mapping[str, Any], bot_user_id: str | None) -> bool:
    """Whether the message mentions folio (Slack then also sends an app_mention event)."""
    return bool(bot_user_id) and f"<@{bot_user_id}>" in str(event.get("text") or "")


def register(app: AsyncApp, parts: Parts) -> None:
    """Route message events."""

    @app.event("message")
    @parts.inflight.tracked
    async def on_message(event: dict[str, Any], context: AsyncBoltContext) -> None:
        team, channel = host_team(context), str(event.get("channel"))
        indexing = bool(event.get("files")) and await parts.channels.indexes(team, channel)
        kind = classify(event, context.bot_user_id, indexing=indexing)
        if mentions(event, context.bot_user_id) and event.get("ts"):
            parts.late_files.arrived(channel, str(event["ts"]), event.get("files") or ())
        if kind == "index":
            await parts.indexer.enqueue_shares(event, team_id=team)
        elif source := await _question_source(parts, kind, event, team):
            bot = context.bot_user_id
            await parts.asker.ask(
                SlackQuestion.from_event(event, team_id=team, source=source, bot_user_id=bot)
            )


async def _question_source(
    parts: Parts, kind: MessageKind, event: Mapping[str, Any], team: str
) -> Source | None:
    """How a message asks folio something without a mention, if it does."""
    channel = str(event.get("channel"))
    if kind == "dm":
        return "dm"
    if kind == "mention" and event.get("files"):
        return "mention"  # its app_mention may have come without them, or to another process
    if kind == "thread" and await parts.questions.is_follow_up(team, channel, event["thread_ts"]):
        return "followup"
    if (
        kind == "top"
        and looks_like_question(str(event.get("text") or ""))
        and await parts.channels.autoanswers(team, channel)
    ):
        return "auto"
    return None
