"""A channel changed how visible it is: its documents follow at once.

Slack's events for it: ``channel_shared``/``channel_unshared`` (Slack Connect), archival
(``channel_archive``, ``group_archive`` and their undo), deletion, folio leaving
(``channel_left``, ``group_left``, ``member_left_channel`` naming folio), and the message
subtypes ``channel_convert_to_private``/``channel_convert_to_public``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from bot.replies import host_team

if TYPE_CHECKING:
    from bot.app import Parts

CHANGED = (
    "channel_shared",
    "channel_unshared",
    "channel_archive",
    "channel_unarchive",
    "group_archive",
    "group_unarchive",
    "channel_deleted",
    "group_deleted",
)
FOLIO_LEFT = ("channel_left", "group_left")
CONVERTED = ("channel_convert_to_private", "channel_convert_to_public")


def register(app: AsyncApp, parts: Parts) -> None:
    """Handle channel changes (before the general message listener sees the subtypes)."""

    @parts.inflight.tracked
    async def on_changed(event: dict[str, Any], context: AsyncBoltContext) -> None:
        await parts.privacy.channel_changed(host_team(context), _channel(event))

    @parts.inflight.tracked
    async def on_left(event: dict[str, Any], context: AsyncBoltContext) -> None:
        if event["type"] == "member_left_channel" and event.get("user") != context.bot_user_id:
            return
        await parts.privacy.channel_changed(host_team(context), _channel(event), folio_left=True)

    for name in CHANGED:
        app.event(name)(on_changed)
    for subtype in CONVERTED:
        app.event({"type": "message", "subtype": subtype})(on_changed)
    for name in (*FOLIO_LEFT, "member_left_channel"):
        app.event(name)(on_left)


def _channel(event: dict[str, Any]) -> str:
    channel = event.get("channel")
    return str(channel["id"] if isinstance(channel, dict) else channel)
