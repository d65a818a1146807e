"""@folio in a channel or thread: a question."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from bot.ask import SlackQuestion
from bot.replies import host_team

if TYPE_CHECKING:
    from bot.app import Parts


def register(app: AsyncApp, parts: Parts) -> None:
    """Answer app_mention events."""

    @app.event("app_mention")
    @parts.inflight.tracked
    async def on_mention(event: dict[str, Any], context: AsyncBoltContext) -> None:
        question = SlackQuestion.from_event(
            event, team_id=host_team(context), source="mention", bot_user_id=context.bot_user_id
        )
        await parts.asker.ask(question)
