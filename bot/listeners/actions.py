"""Buttons: 👍 / 👎 under an answer (stored, thanked privately), and Share under a private one."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.render import FEEDBACK_DOWN, FEEDBACK_UP, notice
from bot.replies import host_team, reply_for
from bot.share import SHARE_ACTION

if TYPE_CHECKING:
    from bot.app import Parts

THANKS = "Thanks, folio noted your feedback on that answer."
GONE = "That answer is no longer on record, so the feedback was not saved."


def register(app: AsyncApp, parts: Parts) -> None:
    """Handle the feedback buttons."""

    @app.action(re.compile(f"^({FEEDBACK_UP}|{FEEDBACK_DOWN})$"))
    @parts.inflight.tracked
    async def on_feedback(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        helpful = action["action_id"] == FEEDBACK_UP
        user = str(body["user"]["id"])
        saved = await parts.questions.feedback(str(action["value"]), user, helpful=helpful)
        where = reply_for(body)
        if where is not None:
            await parts.gateway.send(where, notice(THANKS if saved else GONE))

    @app.action(SHARE_ACTION)
    @parts.inflight.tracked
    async def on_share(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        await ack()
        await parts.sharer.share(
            str(action["value"]),
            team_id=host_team(context),
            channel_id=str(
                (body.get("channel") or {}).get("id") or body["container"]["channel_id"]
            ),
            user_id=str(body["user"]["id"]),
        )
