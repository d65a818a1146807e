"""Library: the documents a team shared, as an adapter sees them: add, list, search, forget.

Every read is scoped to an audience (the permission rule), and forgetting a document is
allowed to the person who shared it and to admins. A file indexed with the name of one
already in its channel (or an edited Slack file) is a new version: the earlier ones stop
answering and are dropped, or kept as superseded (FOLIO_OLD_VERSIONS).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence

from rag.answer._retrieve import Retriever
from rag.db import Catalog
from rag.errors import AmbiguousDocument, DocumentNotFound, NotAllowed
from rag.index import VectorIndex
from rag.ingest._ingestor import Ingestor, Progress
from rag.settings import OldVersions
from rag.types import Audience, ChannelFacts, Document, IngestResult, PageHit, Scope

logger = logging.getLogger(__name__)

AdminCheck = Callable[[str], Awaitable[bool]]
# Deletes the chat's copies of page images folio posted (by chat file id).
RemoveUploads = Callable[[Sequence[str]], Awaitable[None]]


class Library:
    """Indexes, lists, searches and forgets documents, each only where it may be seen."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        ingestor: Ingestor,
        retriever: Retriever,
        index: VectorIndex,
        admins: Sequence[str] = (),
        old_versions: OldVersions = "drop",
    ) -> None:
        self._catalog = catalog
        self._index = index
        self._ingestor = ingestor
        self._retriever = retriever
        self._admins = frozenset(admins)
        self._old_versions = old_versions

    async def index(
        self,
        data: bytes,
        *,
        file_name: str,
        scope: Scope,
        slack_file_id: str | None = None,
        uploader_id: str | None = None,
        permalink: str | None = None,
        progress: Progress | None = None,
    ) -> IngestResult:
        """Index a file's bytes for ``scope``; ``.summary`` is the line to tell whoever shared it.

        The same bytes in the same channel are indexed once; new bytes under a name already
        there (or from the same Slack file) replace the earlier version. A DocumentError says
        why a file cannot be indexed; nothing is left half-stored.
        """
        result = await self._ingestor.ingest(
            data,
            file_name=file_name,
            scope=scope,
            slack_file_id=slack_file_id,
            uploader_id=uploader_id,
            permalink=permalink,
            progress=progress,
        )
        # An earlier attempt of this very share recorded the document, then its worker died
        # or handed the job back before confirming: finish that attempt's work and report it.
        resumed = slack_file_id is not None and result.document.slack_file_id == slack_file_id
        if not result.created and not resumed:
            return result
        replaced = await self._replace_earlier(result.document)
        return dataclasses.replace(result, created=True, replaced=replaced)

    async def _replace_earlier(self, document: Document) -> int:
        earlier = await self._catalog.earlier_versions(document)
        for old in earlier:
            if self._old_versions == "keep":
                await self._ingestor.retire(old.id)
            else:
                with contextlib.suppress(DocumentNotFound):  # removed meanwhile
                    await self._ingestor.forget(old.id)
            logger.info("document %s replaced by %s (%s)", old.id, document.id, self._old_versions)
        return len(earlier)

    async def current_channels(self, team_id: str, slack_file_id: str) -> list[Scope]:
        """The channels where a Slack file's current version is indexed."""
        documents = await self._catalog.by_slack_file(team_id, slack_file_id)
        return list(dict.fromkeys(d.scope for d in documents if not d.superseded))

    async def documents(self, audience: Audience) -> list[Document]:
        """Documents that may answer questions asked in ``audience``, newest first."""
        return await self._catalog.visible(audience)

    async def search(
        self,
        query: str,
        *,
        audience: Audience,
        images: Sequence[bytes] = (),
        limit: int | None = None,
    ) -> list[PageHit]:
        """The best pages for ``query`` (and pictures) among the documents visible there."""
        return await self._retriever.search(query, audience=audience, images=images, limit=limit)

    async def forget(
        self,
        ref: str,
        *,
        audience: Audience,
        user_id: str,
        is_admin: AdminCheck,
        remove_uploads: RemoveUploads | None = None,
    ) -> Document:
        """Remove the visible document ``ref`` names (id, id prefix or file name).

        Allowed to whoever shared it, to FOLIO_ADMIN_USERS, and to those ``is_admin`` says
        are workspace admins (asked only when the first two do not settle it).
        DocumentNotFound or NotAllowed otherwise; AmbiguousDocument when ``ref`` names
        several documents (none is picked: the person names one by its id).
        ``remove_uploads`` deletes the page images folio posted of it in the chat.
        """
        document = await self._one(audience, ref)
        allowed = document.uploader_id == user_id or user_id in self._admins
        if not allowed and not await is_admin(user_id):
            raise NotAllowed(
                f"Only the person who shared {document.file_name} or a workspace admin can "
                "remove it from folio."
            )
        await self._forget(document.id, remove_uploads)
        logger.info("document %s forgotten by %s", document.id, user_id)
        return document

    async def _forget(self, document_id: str, remove_uploads: RemoveUploads | None) -> None:
        uploads = await self._ingestor.forget(document_id)
        if remove_uploads is not None and uploads:
            await remove_uploads(uploads)

    async def _one(self, audience: Audience, ref: str) -> Document:
        matches = await self._catalog.matching_visible(audience, ref)
        exact = [document for document in matches if document.id == ref.strip()]
        if exact:
            return exact[0]
        if not matches:
            raise DocumentNotFound()
        if len(matches) > 1:
            raise AmbiguousDocument(tuple(matches), detail=f"{len(matches)} documents match")
        return matches[0]

    async def follow_channel(self, team_id: str, channel_id: str, facts: ChannelFacts) -> int:
        """Make a channel's documents as visible as the channel now is; how many changed.

        The index goes first, so a channel that just became confined stops lending its
        documents to other channels before the listings say so.
        """
        private = facts.confined
        await self._index.set_channel_visibility(team_id, channel_id, private)
        changed = await self._catalog.set_channel_private(team_id, channel_id, private)
        if changed:
            logger.info(
                "channel %s/%s is now %s: %d documents follow",
                team_id,
                channel_id,
                "confined" if private else "public",
                changed,
            )
        return changed

    async def channels(self) -> list[tuple[str, str]]:
        """Every (team, channel) that holds documents."""
        return await self._catalog.channels()

    async def forget_slack_file(
        self,
        team_id: str,
        slack_file_id: str,
        *,
        channels: Collection[str] | None = None,
        keep: Collection[str] = (),
        remove_uploads: RemoveUploads | None = None,
    ) -> int:
        """Remove the documents made from a Slack file; how many.

        All of them when it was deleted; when it was unshared, those in ``channels`` (the
        channel it left), or in every channel but ``keep`` (where it is still shared).
        """
        removed = 0
        for document in await self._catalog.by_slack_file(team_id, slack_file_id):
            channel = document.scope.channel_id
            if (channels is not None and channel not in channels) or channel in keep:
                continue
            try:
                await self._forget(document.id, remove_uploads)
            except DocumentNotFound:
                continue  # another process removed it first
            removed += 1
        logger.info("file %s left %s: %d documents removed", slack_file_id, team_id, removed)
        return removed
