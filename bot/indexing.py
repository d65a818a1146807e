"""Indexing channels: file shares become durable jobs; the worker indexes and reports back.

``SlackIndexer.enqueue_shares`` runs in the event listener (fast: one row per file and a ⏳
reaction). ``run`` and ``notify`` implement rag's JobHandler for the JobRunner, in the
``serve`` process with the embedded stores or in ``folio worker`` processes: files.info ->
token-guarded download -> Ingestor.ingest -> ✅ or ❌ and one line in the file's thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from bot import render
from bot.files import SlackFiles, file_name, kind_of
from bot.metrics import Metrics
from bot.replies import DONE, FAILED, QUEUED, Reply, react, unreact
from rag import SUPPORTED_FORMATS
from rag._jobs import Job, JobOutcome, JobSpec
from rag._services import Services
from rag.errors import DocumentError, DocumentNotFound

logger = logging.getLogger(__name__)

PRIVATE_CHANNEL_TYPES = frozenset({"group", "im", "mpim"})
UNSUPPORTED_NOTE = "folio reads " + SUPPORTED_FORMATS + ", so it did not index {names}."


class SlackIndexer:
    """Queues files shared in indexing channels and indexes them (rag's JobHandler)."""

    def __init__(
        self,
        *,
        services: Services,
        client: AsyncWebClient,
        files: SlackFiles,
        metrics: Metrics,
    ) -> None:
        self._services = services
        self._client = client
        self._files = files
        self._metrics = metrics

    async def indexing_on(self, team_id: str, channel_id: str) -> bool:
        """True when file shares in this channel are indexed (settings or `/folio index`)."""
        if channel_id in self._services.settings.index_channels:
            return True
        return (await self._services.channels.get(team_id, channel_id)).indexing

    async def enqueue_shares(self, event: Mapping[str, Any], *, team_id: str) -> int:
        """Queue every readable file of a file_share message; how many jobs were created."""
        channel, ts = str(event["channel"]), str(event["ts"])
        thread = Reply(channel, str(event.get("thread_ts") or ts))
        files = [await self._files.complete(f) for f in event.get("files") or ()]
        readable = [f for f in files if kind_of(f) is not None]
        unreadable = [file_name(f) for f in files if kind_of(f) is None]
        if unreadable:
            note = UNSUPPORTED_NOTE.format(names=", ".join(unreadable))
            await thread.send(self._client, render.error_message(note))
        if not readable:
            return 0
        # Before the jobs exist, so a fast worker's ✅ can never be followed by this ⏳.
        await react(self._client, channel, ts, QUEUED)
        private = await self._is_private(channel, event.get("channel_type"))
        created = 0
        for file in readable:
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
            _, new = await self._services.jobs.enqueue(spec)
            created += int(new)
        return created

    async def forget_file(self, team_id: str, slack_file_id: str) -> int:
        """Remove every document made from a Slack file (it was deleted); how many."""
        removed = 0
        for document in await self._services.catalog.by_slack_file(team_id, slack_file_id):
            try:
                await self._services.ingestor.forget(document.id)
            except DocumentNotFound:
                continue  # another process removed it first
            removed += 1
        logger.info("file %s deleted in %s: %d documents removed", slack_file_id, team_id, removed)
        return removed

    async def run(self, job: Job) -> tuple[str, str]:
        """Download and index the job's file; returns (document id, the line to post)."""
        if job.slack_file_id is None:
            raise DocumentError(
                f"{job.file_name} was not shared in Slack, so folio cannot fetch it."
            )
        started = time.perf_counter()
        file = await self._files.info(job.slack_file_id)
        data = await self._files.download(file)
        result = await self._services.ingestor.ingest(
            data,
            file_name=job.file_name,
            scope=job.scope,
            slack_file_id=job.slack_file_id,
            uploader_id=job.user_id,
            permalink=str(file["permalink"]) if file.get("permalink") else None,
        )
        self._metrics.observe("folio_ingest_seconds", time.perf_counter() - started)
        document = result.document
        line = render.indexed_line(document.file_name, document.page_count, document.figure_count)
        return document.id, line if result.created else f"{line} (already indexed here)"

    async def notify(self, job: Job, outcome: JobOutcome) -> None:
        """✅ or ❌ on the file message, and one line in its thread."""
        self._metrics.inc("folio_ingest_total", result="ok" if outcome.ok else "failed")
        if job.message_ts is None:
            return
        channel, ts = job.channel_id, job.message_ts
        await unreact(self._client, channel, ts, QUEUED)
        await react(self._client, channel, ts, DONE if outcome.ok else FAILED)
        # The success line is built by render.indexed_line and already escaped.
        message = (
            render.RenderedMessage(text=outcome.message, blocks=[])
            if outcome.ok
            else render.error_message(outcome.message)
        )
        await Reply(channel, job.thread_ts or ts).send(self._client, message)

    async def _is_private(self, channel: str, channel_type: object) -> bool:
        """Whether a channel is private, from the event or else conversations.info."""
        if channel_type == "channel":
            return False
        if channel_type in PRIVATE_CHANNEL_TYPES:
            return True
        try:
            info = (await self._client.conversations_info(channel=channel))["channel"]
        except (SlackApiError, SlackRequestError) as exc:
            # Unknown means private: a document must never leak into other channels.
            logger.warning("conversations.info %s failed (%s); treating as private", channel, exc)
            return True
        return bool(info.get("is_private") or info.get("is_im") or info.get("is_mpim"))
