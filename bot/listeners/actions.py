"""Buttons: 👍 / 👎 under an answer (stored per answer and person; 👎 asks why in a small
modal), and Share under a private answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.feedback import (
    FEEDBACK_ACTION,
    FEEDBACK_REASON,
    REASON_BLOCK,
    REASON_INPUT,
    feedback_vote,
    reason_modal,
)
from bot.render import notice
from bot.replies import host_team, reply_for
from bot.share import SHARE_ACTION

if TYPE_CHECKING:
    from bot.app import Parts

THANKS = "Thanks, folio noted your feedback on that answer."
GONE = "That answer is no longer on record, so the feedback was not saved."


def register(app: AsyncApp, parts: Parts) -> None:
    """Handle the feedback buttons, the 👎 reason modal and the Share button."""

    @app.action(FEEDBACK_ACTION)
    @parts.inflight.tracked
    async def on_feedback(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        vote = feedback_vote(str(action.get("value") or ""))
        if vote is None:
            return
        helpful, answer_id = vote
        user = str(body["user"]["id"])
        saved = await parts.questions.feedback(answer_id, user, helpful=helpful)
        if saved and not helpful and body.get("trigger_id"):
            # The trigger lasts three seconds: the modal opens before anything else is said.
            await parts.gateway.open_view(str(body["trigger_id"]), reason_modal(answer_id))
            return
        where = reply_for(body)
        if where is not None:
            await parts.gateway.send(where, notice(THANKS if saved else GONE))

    @app.view(FEEDBACK_REASON)
    @parts.inflight.tracked
    async def on_reason(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        await ack()
        values = (view.get("state") or {}).get("values") or {}
        reason = str(((values.get(REASON_BLOCK) or {}).get(REASON_INPUT) or {}).get("value") or "")
        await parts.questions.reason(
            str(view.get("private_metadata") or ""), str(body["user"]["id"]), reason
        )

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
