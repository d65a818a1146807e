"""@folio in a channel or thread: a question (its files may come on the message event)."""

from __future__ import annotations

import dataclasses
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
        if not question.files:
            files = await parts.late_files.wait(question.channel_id, question.ts)
            question = dataclasses.replace(question, files=files)
        await parts.asker.ask(question)
