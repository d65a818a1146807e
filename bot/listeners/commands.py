"""/folio: ask (privately, or with --public in a new thread), or run a subcommand and tell
only the person who ran it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot import render
from bot.ask import SlackQuestion
from bot.commands import split_command, split_public
from bot.errors import REPLY_KEY
from bot.replies import Reply, host_team

if TYPE_CHECKING:
    from bot.app import Parts


def register(app: AsyncApp, parts: Parts) -> None:
    """Handle the /folio slash command."""

    @app.command("/folio")
    @parts.inflight.tracked
    async def on_folio(ack: AsyncAck, command: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        name, arg = split_command(str(command.get("text") or ""))
        team, user, channel = (
            host_team(context),
            str(command["user_id"]),
            str(command["channel_id"]),
        )
        private = Reply(channel, user=user)
        public, text = split_public(arg) if name == "ask" else (False, arg)
        if name == "ask" and text:
            thread = await parts.asker.announce(command, text) if public else None
            if thread is not None:
                context[REPLY_KEY] = thread
            await parts.asker.ask(SlackQuestion.from_command(command, text, thread, team_id=team))
            return
        audience = await parts.audiences.audience(team, channel, user)
        message = (
            render.help_message()
            if name == "ask"
            else await parts.commands.run(name, arg, audience=audience, user_id=user)
        )
        await parts.gateway.send(private, message)
