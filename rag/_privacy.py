"""PrivacyWatch: documents stay exactly as visible as the channel they were shared in.

A channel can become private, be shared with another organisation, be archived, or lose
folio; its documents must stop answering elsewhere at once. The chat platform's events
say so (``channel_changed``), and because events can be missed, every channel holding
documents is re-checked on a timer (``run_forever``).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from dataclasses import replace

from rag._audiences import Audiences
from rag._library import Library
from rag.errors import FolioError

logger = logging.getLogger(__name__)

RECHECK_EVERY_S = 600.0


class PrivacyWatch:
    """Keeps documents' visibility in step with their channels, on events and on a timer."""

    def __init__(self, *, library: Library, audiences: Audiences) -> None:
        self._library = library
        self._audiences = audiences

    async def channel_changed(
        self, team_id: str, channel_id: str, *, folio_left: bool = False
    ) -> int:
        """A channel changed (privacy, sharing, archival, membership): follow it now.

        ``folio_left``: folio was removed, whatever the channel's facts still say.
        How many documents changed visibility.
        """
        self._audiences.forget_channel(channel_id)
        facts = await self._audiences.channel(channel_id)
        if folio_left:
            facts = replace(facts, member=False)
        return await self._library.follow_channel(team_id, channel_id, facts)

    async def recheck(self) -> int:
        """Ask about every channel that holds documents; how many documents changed."""
        changed = 0
        for team_id, channel_id in await self._library.channels():
            self._audiences.forget_channel(channel_id)
            facts = await self._audiences.channel(channel_id)
            changed += await self._library.follow_channel(team_id, channel_id, facts)
        if changed:
            logger.info("re-check of channels: %d documents changed visibility", changed)
        return changed

    async def run_forever(self, stop: asyncio.Event, *, every_s: float = RECHECK_EVERY_S) -> None:
        """Re-check every ``every_s`` seconds until ``stop`` is set (first check at once)."""
        while not stop.is_set():
            try:
                await self.recheck()
            except FolioError as exc:  # a store hiccup: the next round tries again
                logger.warning("re-check of channels failed: %s", exc.detail or exc)
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)
