"""Audiences: who reads what folio says in a channel, from the chat platform's own facts.

A public channel's documents answer anywhere in the workspace because everyone there can
read every public channel. Two audiences break that: a channel shared with another
organisation (Slack Connect) and a guest account. For them only the channel's own
documents answer, and files shared in a channel shared outside stay that channel's own.
The facts come from a ``Directory`` (the bot's Slack gateway), cached for a short time so
a change in Slack takes effect within ``ttl_s`` even when its event is missed; a lookup
that fails reads as the narrowest audience and is not cached.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from rag.errors import ChatError
from rag.types import Audience, ChannelFacts, MemberFacts, Scope

logger = logging.getLogger(__name__)

# When the platform cannot say, a channel is private and shared outside, a person a guest.
UNKNOWN_CHANNEL = ChannelFacts(private=True, external=True)
UNKNOWN_MEMBER = MemberFacts(guest=True, admin=False)
DEFAULT_TTL_S = 60.0


class Directory(Protocol):
    """Reads channel and member facts from the chat platform; ChatError when it cannot."""

    async def channel_facts(self, channel_id: str) -> ChannelFacts:
        """Privacy, sharing and archival of one channel."""
        ...

    async def member_facts(self, user_id: str) -> MemberFacts:
        """Whether one person is a guest or an admin/owner."""
        ...


class Audiences:
    """Channel and member facts with a short cache, and the audience and scope they imply."""

    def __init__(
        self,
        *,
        directory: Directory,
        ttl_s: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._directory = directory
        self._ttl_s = ttl_s
        self._clock = clock
        self._channels: dict[str, tuple[float, ChannelFacts]] = {}
        self._members: dict[str, tuple[float, MemberFacts]] = {}

    async def channel(self, channel_id: str) -> ChannelFacts:
        """A channel's facts, at most ``ttl_s`` old."""
        cached = self._channels.get(channel_id)
        if cached is not None and self._clock() - cached[0] < self._ttl_s:
            return cached[1]
        try:
            facts = await self._directory.channel_facts(channel_id)
        except ChatError as exc:
            logger.warning("channel %s unreadable (%s); treating it as confined", channel_id, exc)
            return UNKNOWN_CHANNEL
        self._channels[channel_id] = (self._clock(), facts)
        return facts

    async def member(self, user_id: str) -> MemberFacts:
        """A person's facts, at most ``ttl_s`` old."""
        cached = self._members.get(user_id)
        if cached is not None and self._clock() - cached[0] < self._ttl_s:
            return cached[1]
        try:
            facts = await self._directory.member_facts(user_id)
        except ChatError as exc:
            logger.warning("member %s unreadable (%s); treating them as a guest", user_id, exc)
            return UNKNOWN_MEMBER
        self._members[user_id] = (self._clock(), facts)
        return facts

    def forget_channel(self, channel_id: str) -> None:
        """Drop what is cached about a channel (an event said it changed)."""
        self._channels.pop(channel_id, None)

    async def audience(self, team_id: str, channel_id: str, user_id: str) -> Audience:
        """Who reads an answer ``user_id`` gets in ``channel_id``."""
        external = (await self.channel(channel_id)).external if channel_id else False
        guest = (await self.member(user_id)).guest if user_id else True
        return Audience(team_id, channel_id, own_channel_only=external or guest)

    async def scope(self, team_id: str, channel_id: str) -> Scope:
        """Where a file shared in ``channel_id`` may be seen: confined unless public and inside."""
        facts = await self.channel(channel_id)
        return Scope(team_id, channel_id, channel_private=facts.confined)

    async def is_admin(self, user_id: str) -> bool:
        """Whether ``user_id`` is a workspace admin or owner."""
        return (await self.member(user_id)).admin
