"""Backfills: index the files already in a channel, each once, with one progress report.

The adapter lists the channel's files (newest first, up to ``limit``) and says how to
announce the run; ``start`` keeps the newest file of each name, skips what the channel
already has (indexed, queued or being indexed), records the run and queues the rest.
Every finished job of the run then updates the one progress message (``progress``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from rag.db import BackfillLog, Catalog, JobQueue, JobSpec
from rag.types import BackfillProgress, Scope, SharedFile

logger = logging.getLogger(__name__)

# Given the number of files to index, posts the progress message; its ts (None: nowhere).
Announce = Callable[[int], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class BackfillStarted:
    """What a backfill found: files listed, how many were new and queued, and the limit."""

    listed: int
    queued: int
    limit: int
    backfill_id: str | None = None


class Backfills:
    """Queues a channel's existing files for indexing, skipping those it already has."""

    def __init__(self, *, jobs: JobQueue, catalog: Catalog, log: BackfillLog, limit: int) -> None:
        self._jobs = jobs
        self._catalog = catalog
        self._log = log
        self.limit = limit

    async def start(
        self,
        scope: Scope,
        files: Sequence[SharedFile],
        *,
        announce: Announce,
        retry_failed: bool = True,
    ) -> BackfillStarted:
        """Queue the files of ``scope``'s channel not indexed there yet (``files`` newest first).

        Of several files with one name only the newest is read: the others are its earlier
        versions. Files that failed before are tried again when ``retry_failed`` (someone
        asked; a restart does not). Nothing is announced when there is nothing new.
        """
        listed = list(files)[: self.limit]
        newest = _newest_of_each_name(listed)
        ids = [f.slack_file_id for f in newest]
        known = await self._jobs.files_with_jobs(scope, ids, failed=not retry_failed)
        known |= await self._catalog.slack_files_in(scope, ids)
        todo = [f for f in newest if f.slack_file_id not in known]
        if not todo:
            return BackfillStarted(listed=len(listed), queued=0, limit=self.limit)
        backfill_id = await self._log.start(scope, len(todo))
        await self._log.set_message(backfill_id, await announce(len(todo)))
        queued = 0
        for file in todo:  # newest first: the queue runs them in this order
            spec = JobSpec(
                team_id=scope.team_id,
                channel_id=scope.channel_id,
                channel_private=scope.channel_private,
                file_name=file.file_name,
                slack_file_id=file.slack_file_id,
                user_id=file.user_id,
                backfill_id=backfill_id,
            )
            _, new = await self._jobs.enqueue(spec)
            queued += int(new)
        logger.info(
            "backfill %s in %s: %d listed, %d queued",
            backfill_id,
            scope.channel_id,
            len(listed),
            queued,
        )
        return BackfillStarted(
            listed=len(listed), queued=queued, limit=self.limit, backfill_id=backfill_id
        )

    async def progress(self, backfill_id: str) -> BackfillProgress | None:
        """How the run stands (None when it is unknown)."""
        return await self._log.progress(backfill_id)


def _newest_of_each_name(files: Sequence[SharedFile]) -> list[SharedFile]:
    seen: set[str] = set()
    newest = []
    for file in files:
        key = file.file_name.casefold()
        if key not in seen:
            seen.add(key)
            newest.append(file)
    return newest
