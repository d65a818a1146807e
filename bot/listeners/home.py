"""The App Home tab: documents, indexing channels and the person's recent questions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from bot.replies import host_team

if TYPE_CHECKING:
    from bot.app import Parts


def register(app: AsyncApp, parts: Parts) -> None:
    """Publish the Home tab when it is opened."""

    @app.event("app_home_opened")
    @parts.inflight.tracked
    async def on_home(event: dict[str, Any], context: AsyncBoltContext) -> None:
        if event.get("tab", "home") != "home":
            return
        user = str(event["user"])
        audience = await parts.audiences.audience(host_team(context), "", user)
        view = await parts.commands.home(audience, user)
        await parts.gateway.publish_home(str(event["user"]), view)
