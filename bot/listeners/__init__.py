"""Slack listeners: each translates one kind of request into one call on folio's parts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slack_bolt.async_app import AsyncApp

from bot.listeners import (
    actions,
    assistant,
    channels,
    commands,
    files,
    home,
    mentions,
    messages,
)

if TYPE_CHECKING:
    from bot.app import Parts


def register(app: AsyncApp, parts: Parts) -> None:
    """Attach every listener to ``app``."""
    # channels before messages: it takes the channel_convert_to_* message subtypes.
    for module in (channels, mentions, messages, commands, files, home, actions, assistant):
        module.register(app, parts)
