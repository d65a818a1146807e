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
from rag.errors import DocumentNotFound, NotAllowed
from rag.ingest._ingestor import Ingestor, Progress
from rag.settings import OldVersions
from rag.types import Audience, Document, IngestResult, PageHit, Scope

logger = logging.getLogger(__name__)

AdminCheck = Callable[[str], Awaitable[bool]]


class Library:
    """Indexes, lists, searches and forgets documents, each only where it may be seen."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        ingestor: Ingestor,
        retriever: Retriever,
        admins: Sequence[str] = (),
        old_versions: OldVersions = "drop",
    ) -> None:
        self._catalog = catalog
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
        if not result.created:
            return result
        return dataclasses.replace(result, replaced=await self._replace_earlier(result.document))

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
        self, ref: str, *, audience: Audience, user_id: str, is_admin: AdminCheck
    ) -> Document:
        """Remove the visible document ``ref`` names (id, id prefix or file name).

        Allowed to whoever shared it, to FOLIO_ADMIN_USERS, and to those ``is_admin`` says
        are workspace admins (asked only when the first two do not settle it).
        DocumentNotFound or NotAllowed otherwise.
        """
        document = await self._catalog.find_visible(audience, ref)
        if document is None:
            raise DocumentNotFound()
        allowed = document.uploader_id == user_id or user_id in self._admins
        if not allowed and not await is_admin(user_id):
            raise NotAllowed(
                f"Only the person who shared {document.file_name} or a workspace admin can "
                "remove it from folio."
            )
        await self._ingestor.forget(document.id)
        logger.info("document %s forgotten by %s", document.id, user_id)
        return document

    async def forget_slack_file(
        self,
        team_id: str,
        slack_file_id: str,
        *,
        channels: Collection[str] | None = None,
        keep: Collection[str] = (),
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
                await self._ingestor.forget(document.id)
            except DocumentNotFound:
                continue  # another process removed it first
            removed += 1
        logger.info("file %s left %s: %d documents removed", slack_file_id, team_id, removed)
        return removed
