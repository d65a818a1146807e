"""@folio in a channel or thread: a question."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from bot.ask import SlackQuestion

if TYPE_CHECKING:
    from bot.app import Parts


def register(app: AsyncApp, parts: Parts) -> None:
    """Answer app_mention events."""

    @app.event("app_mention")
    @parts.inflight.tracked
    async def on_mention(event: dict[str, Any], context: AsyncBoltContext) -> None:
        question = SlackQuestion.from_event(
            event, team_id=str(context.team_id), source="mention", bot_user_id=context.bot_user_id
        )
        await parts.asker.ask(question)
