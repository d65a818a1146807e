"""Indexing channels: file shares become durable jobs; the worker indexes and reports back.

``SlackIndexer.enqueue_shares`` runs in the event listener (fast: one row per file and a ⏳
reaction). ``run`` and ``notify`` implement rag's JobHandler for the JobRunner, in the
``serve`` process with the embedded stores or in ``folio worker`` processes: files.info ->
token-guarded download -> ``Library.index`` -> ✅ or ❌ and one line in the file's thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from bot import render
from bot.backfill import SlackBackfill
from bot.files import SlackFiles, file_name, kind_of
from bot.gateway import SlackGateway
from bot.metrics import Metrics
from bot.replies import DONE, FAILED, QUEUED, Reply
from rag import (
    ChatError,
    DocumentError,
    DownloadError,
    Job,
    JobOutcome,
    JobQueue,
    JobSpec,
    Library,
    supported_formats,
)

logger = logging.getLogger(__name__)

PRIVATE_CHANNEL_TYPES = frozenset({"group", "im", "mpim"})
UNSUPPORTED_NOTE = "folio reads " + supported_formats() + ", so it did not index {names}."


class SlackIndexer:
    """Queues files shared in indexing channels and indexes them (rag's JobHandler)."""

    def __init__(
        self,
        *,
        library: Library,
        jobs: JobQueue,
        files: SlackFiles,
        gateway: SlackGateway,
        metrics: Metrics,
        backfill: SlackBackfill,
    ) -> None:
        self._library = library
        self._jobs = jobs
        self._files = files
        self._gateway = gateway
        self._metrics = metrics
        self._backfill = backfill

    async def enqueue_shares(self, event: Mapping[str, Any], *, team_id: str) -> int:
        """Queue every readable file of a file_share message; how many jobs were created."""
        channel, ts = str(event["channel"]), str(event["ts"])
        thread = Reply(channel, str(event.get("thread_ts") or ts))
        files = [await self._files.complete(f) for f in event.get("files") or ()]
        readable = [f for f in files if kind_of(f) is not None]
        unreadable = [file_name(f) for f in files if kind_of(f) is None]
        if unreadable:
            note = UNSUPPORTED_NOTE.format(names=", ".join(unreadable))
            await self._gateway.send(thread, render.error_message(note))
        if not readable:
            return 0
        # Before the jobs exist, so a fast worker's ✅ can never be followed by this ⏳.
        await self._gateway.react(channel, ts, QUEUED)
        private = await self._is_private(channel, event.get("channel_type"))
        created = 0
        for file in readable:  # a failed file shared again is tried again
            spec = JobSpec(
                team_id=team_id,
                channel_id=channel,
                channel_private=private,
                file_name=file_name(file),
                slack_file_id=str(file["id"]),
                user_id=str(event.get("user") or file.get("user") or "") or None,
                message_ts=ts,
                thread_ts=thread.thread_ts,
            )
            _, new = await self._jobs.enqueue(spec)
            created += int(new)
        if not created:  # all of them are indexed or on their way already
            await self._gateway.unreact(channel, ts, QUEUED)
        return created

    async def enqueue_change(self, file_id: str, *, team_id: str) -> int:
        """A Slack file was edited: index its new version where it is indexed; how many."""
        scopes = await self._library.current_channels(team_id, file_id)
        if not scopes:
            return 0
        file = await self._files.info(file_id)
        created = 0
        for scope in scopes:
            spec = JobSpec(
                team_id=team_id,
                channel_id=scope.channel_id,
                channel_private=scope.channel_private,
                file_name=file_name(file),
                slack_file_id=file_id,
                user_id=str(file.get("user") or "") or None,
            )
            _, new = await self._jobs.enqueue(spec, again=True)
            created += int(new)
        return created

    async def shared_in(self, file_id: str) -> list[str] | None:
        """The channels a file is still shared in (None when Slack no longer has it)."""
        try:
            file = await self._files.info(file_id)
        except DownloadError as exc:
            cause = exc.__cause__
            if isinstance(cause, ChatError) and cause.code == "file_not_found":
                return None
            raise
        return [str(c) for key in ("channels", "groups", "ims") for c in file.get(key) or ()]

    async def run(self, job: Job) -> tuple[str, str]:
        """Download and index the job's file; returns (document id, the line to post)."""
        if job.slack_file_id is None:
            raise DocumentError(
                f"{job.file_name} was not shared in Slack, so folio cannot fetch it."
            )
        started = time.perf_counter()
        file = await self._files.info(job.slack_file_id)
        data = await self._files.download(file)
        result = await self._library.index(
            data,
            file_name=job.file_name,
            scope=job.scope,
            slack_file_id=job.slack_file_id,
            uploader_id=job.user_id,
            permalink=str(file["permalink"]) if file.get("permalink") else None,
        )
        self._metrics.observe("folio_ingest_seconds", time.perf_counter() - started)
        return result.document.id, result.summary

    async def notify(self, job: Job, outcome: JobOutcome) -> None:
        """✅ or ❌ on the file message, and one line in its thread."""
        self._metrics.inc("folio_ingest_total", result="ok" if outcome.ok else "failed")
        if job.backfill_id is not None:
            await self._backfill.report(job.backfill_id)
            return
        if job.message_ts is None:
            return
        channel, ts = job.channel_id, job.message_ts
        await self._gateway.unreact(channel, ts, QUEUED)
        await self._gateway.react(channel, ts, DONE if outcome.ok else FAILED)
        message = (
            render.indexed_message(outcome.message)
            if outcome.ok
            else render.error_message(outcome.message)
        )
        await self._gateway.send(Reply(channel, job.thread_ts or ts), message)

    async def _is_private(self, channel: str, channel_type: object) -> bool:
        """Whether a channel is private, from the event or else conversations.info."""
        if channel_type == "channel":
            return False
        if channel_type in PRIVATE_CHANNEL_TYPES:
            return True
        return await self._gateway.is_private(channel)
