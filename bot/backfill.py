"""The files already in a channel: list them in Slack, hand them to rag, report progress.

``SlackBackfill.run`` lists a channel's files (files.list, newest first, up to the limit),
gives rag's Backfills the readable ones and, when some are new, posts one message with a
progress line in its thread; ``report`` updates that line as each job of the run ends.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot import render
from bot.files import file_name, kind_of
from bot.gateway import SlackGateway
from bot.replies import Reply
from rag import BackfillProgress, Backfills, BackfillStarted, FolioError, Scope, SharedFile

logger = logging.getLogger(__name__)


class SlackBackfill:
    """Indexes the files already in a channel, with one progress message."""

    def __init__(self, *, backfills: Backfills, gateway: SlackGateway) -> None:
        self._backfills = backfills
        self._gateway = gateway

    @property
    def limit(self) -> int:
        """How many of a channel's files (the newest) one run reads at most."""
        return self._backfills.limit

    async def run(
        self, team_id: str, channel_id: str, *, retry_failed: bool = True
    ) -> BackfillStarted:
        """Queue the channel's files folio has not indexed yet; what was found."""
        files = await self._gateway.channel_files(channel_id, limit=self.limit)
        me = await self._gateway.bot_user_id()
        shared = [  # not the page images folio itself posted with its answers
            SharedFile(str(f["id"]), file_name(f), str(f.get("user") or "") or None)
            for f in files
            if kind_of(f) is not None and f.get("user") != me
        ]
        private = await self._gateway.is_private(channel_id)
        scope = Scope(team_id, channel_id, private)

        async def announce(total: int) -> str | None:
            parent = await self._gateway.send(Reply(channel_id), render.backfill_intro())
            progress = BackfillProgress("", channel_id, None, total, 0, 0)
            return await self._gateway.send(
                Reply(channel_id, parent), render.backfill_progress(progress)
            )

        return await self._backfills.start(
            scope, shared, announce=announce, retry_failed=retry_failed
        )

    async def run_all(self, team_id: str, channels: Sequence[str]) -> None:
        """Backfill each channel in turn (FOLIO_INDEX_CHANNELS at start); failures are logged."""
        for channel in channels:
            try:
                started = await self.run(team_id, channel, retry_failed=False)
            except FolioError as exc:  # Slack or the database: the next start tries again
                logger.warning("backfill of %s failed: %s", channel, exc.detail or exc)
                continue
            logger.info("backfill of %s: %d new of %d", channel, started.queued, started.listed)

    async def report(self, backfill_id: str) -> None:
        """Update the run's progress message with how its jobs stand now."""
        progress = await self._backfills.progress(backfill_id)
        if progress is None or progress.message_ts is None:
            return
        await self._gateway.update(
            progress.channel_id, progress.message_ts, render.backfill_progress(progress)
        )
