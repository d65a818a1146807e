"""Files deleted, unshared or edited in Slack: folio's index follows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

if TYPE_CHECKING:
    from bot.app import Parts


def register(app: AsyncApp, parts: Parts) -> None:
    """Handle file_deleted, file_unshared and file_change events."""

    @app.event("file_deleted")
    @parts.inflight.tracked
    async def on_file_deleted(event: dict[str, Any], context: AsyncBoltContext) -> None:
        await parts.library.forget_slack_file(str(context.team_id), str(event["file_id"]))

    @app.event("file_unshared")
    @parts.inflight.tracked
    async def on_file_unshared(event: dict[str, Any], context: AsyncBoltContext) -> None:
        team, file_id = str(context.team_id), str(event["file_id"])
        if event.get("channel_id"):  # the channel it left
            await parts.library.forget_slack_file(team, file_id, channels=[event["channel_id"]])
            return
        still = await parts.indexer.shared_in(file_id)
        await parts.library.forget_slack_file(team, file_id, keep=still or ())

    @app.event("file_change")
    @parts.inflight.tracked
    async def on_file_change(event: dict[str, Any], context: AsyncBoltContext) -> None:
        await parts.indexer.enqueue_change(str(event["file_id"]), team_id=str(context.team_id))
