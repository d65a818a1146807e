"""A file deleted in Slack leaves folio's index."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from bot.replies import host_team

if TYPE_CHECKING:
    from bot.app import Parts


def register(app: AsyncApp, parts: Parts) -> None:
    """Handle file_deleted events."""

    @app.event("file_deleted")
    @parts.inflight.tracked
    async def on_file_deleted(event: dict[str, Any], context: AsyncBoltContext) -> None:
        await parts.library.forget_slack_file(host_team(context), str(event["file_id"]))
