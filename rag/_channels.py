"""Channels: which channels folio indexes and where it answers without a mention.

A channel indexes its file shares when FOLIO_INDEX_CHANNELS lists it (for good) or when
someone switched it on (`/folio index here`); follow-ups are on unless switched off;
answering top-level questions (a help channel, `/folio autoanswer on`) is off unless
switched on. Only workspace admins and owners (and FOLIO_ADMIN_USERS) may flip a switch.
"""

from __future__ import annotations

from collections.abc import Sequence

from rag._library import AdminCheck
from rag.db import ChannelSettingsStore
from rag.errors import NotAllowed
from rag.types import ChannelIndexing


class Channels:
    """Per-channel switches, over the channels the configuration always indexes."""

    def __init__(
        self,
        *,
        store: ChannelSettingsStore,
        always_indexed: Sequence[str] = (),
        admins: Sequence[str] = (),
    ) -> None:
        self._store = store
        self._always_indexed = tuple(always_indexed)
        self._admins = frozenset(admins)

    async def indexing(self, team_id: str, channel_id: str) -> ChannelIndexing:
        """``configured`` (FOLIO_INDEX_CHANNELS), ``on`` (switched on) or ``off``."""
        if channel_id in self._always_indexed:
            return "configured"
        return "on" if (await self._store.get(team_id, channel_id)).indexing else "off"

    async def indexes(self, team_id: str, channel_id: str) -> bool:
        """True when file shares in this channel are indexed."""
        return await self.indexing(team_id, channel_id) != "off"

    async def set_indexing(
        self, team_id: str, channel_id: str, on: bool, user_id: str, *, is_admin: AdminCheck
    ) -> ChannelIndexing:
        """Switch indexing of this channel's file shares; how the channel stands after.

        Allowed to workspace admins and owners (``is_admin``) and FOLIO_ADMIN_USERS.
        """
        await self._check(user_id, is_admin, "turn indexing of this channel on or off")
        await self._store.set_indexing(team_id, channel_id, on, user_id)
        return await self.indexing(team_id, channel_id)

    async def set_followups(
        self, team_id: str, channel_id: str, on: bool, user_id: str, *, is_admin: AdminCheck
    ) -> None:
        """Answer (or not) replies in folio's threads here without a mention (admins only)."""
        await self._check(user_id, is_admin, "turn follow-ups in this channel on or off")
        await self._store.set_followups(team_id, channel_id, on, user_id)

    async def set_autoanswer(
        self, team_id: str, channel_id: str, on: bool, user_id: str, *, is_admin: AdminCheck
    ) -> None:
        """Answer (or not) top-level questions here without a mention (admins only)."""
        await self._check(user_id, is_admin, "turn answering questions here on or off")
        await self._store.set_autoanswer(team_id, channel_id, on, user_id)

    async def autoanswers(self, team_id: str, channel_id: str) -> bool:
        """Whether top-level questions here are answered without a mention."""
        return (await self._store.get(team_id, channel_id)).autoanswer

    async def _check(self, user_id: str, is_admin: AdminCheck, what: str) -> None:
        if user_id in self._admins or await is_admin(user_id):
            return
        raise NotAllowed(
            f"Only workspace admins and owners can {what}; ask one of them to do it.",
            detail=f"{user_id} is no admin",
        )

    async def followups(self, team_id: str, channel_id: str) -> bool:
        """Whether replies in folio's threads here are answered without a mention."""
        return (await self._store.get(team_id, channel_id)).followups

    async def indexed_channels(self, team_id: str) -> list[str]:
        """Every channel that indexes file shares: configured ones first, no repeats."""
        switched = await self._store.indexing_channels(team_id)
        return list(dict.fromkeys([*self._always_indexed, *(c.channel_id for c in switched)]))
