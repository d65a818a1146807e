"""Slack's assistant (agent) view: a new thread gets prompts about what is indexed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from bot import render
from bot.replies import host_team

if TYPE_CHECKING:
    from bot.app import Parts


def register(app: AsyncApp, parts: Parts) -> None:
    """Handle assistant_thread_started and assistant_thread_context_changed."""

    @parts.inflight.tracked
    async def on_thread(event: dict[str, Any], context: AsyncBoltContext) -> None:
        thread = event["assistant_thread"]
        channel, user = str(thread["channel_id"]), str(thread["user_id"])
        audience = await parts.audiences.audience(host_team(context), channel, user)
        prompts = await parts.overview.suggested_prompts(audience)
        if prompts:  # none indexed yet: the manifest's own prompts stay
            await parts.gateway.suggest_prompts(
                channel, str(thread["thread_ts"]), render.suggested_prompts(prompts)
            )

    for name in ("assistant_thread_started", "assistant_thread_context_changed"):
        app.event(name)(on_thread)
