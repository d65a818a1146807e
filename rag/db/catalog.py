"""Catalog: the documents folio has indexed, their pages and original bytes."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Text,
    UnaryExpression,
    delete,
    false,
    func,
    or_,
    select,
    update,
)
from sqlalchemy import cast as cast_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rag.db._errors import translated
from rag.db._locks import document_lock
from rag.db._sql import clean_text, insert_for, rowcount
from rag.db.models import (
    AnswerRow,
    CaptionRow,
    DocumentFileRow,
    DocumentRow,
    GenerationDocumentRow,
    IngestionJobRow,
    PageRow,
    utcnow,
)
from rag.errors import DuplicateDocument, StoreError
from rag.types import Audience, Document, DocumentKind, PageInfo, Scope

logger = logging.getLogger(__name__)

# Shorter id prefixes would match too many documents to mean one.
MIN_ID_PREFIX = 6
FORGOTTEN = "(a forgotten document)"  # what a job row names once its document is forgotten


class Catalog:
    """Documents, their pages and bytes; every read is scoped by team and channel.

    With a ``generation``, a document added (or marked) is recorded as indexed in that
    generation of the vector index, in the same transaction.
    """

    def __init__(
        self, *, sessions: async_sessionmaker[AsyncSession], generation: int | None = None
    ) -> None:
        self._sessions = sessions
        self._generation = generation

    def exclusive(self, document_id: str) -> AbstractAsyncContextManager[None]:
        """Hold the document's lock for a block: one writer at a time, across processes."""
        return document_lock(self._sessions, document_id)

    @translated("looking up a document by content")
    async def find_by_hash(self, scope: Scope, content_hash: str) -> Document | None:
        """The document with these bytes already indexed in this channel, if any."""
        query = select(DocumentRow).where(
            DocumentRow.team_id == scope.team_id,
            DocumentRow.channel_id == scope.channel_id,
            DocumentRow.content_hash == content_hash,
        )
        async with self._sessions() as session:
            row = (await session.scalars(query)).first()
        return None if row is None else _document(row)

    @translated("recording a document")
    async def add(
        self, document: Document, pages: Sequence[PageInfo], data: bytes, size_bytes: int
    ) -> None:
        """Record a document, its original bytes and its pages in one transaction."""
        async with self._sessions() as session, session.begin():
            session.add(_row(document, size_bytes))
            try:
                await session.flush()  # the parent row first, for the foreign keys below
            except IntegrityError as exc:
                raise DuplicateDocument(
                    detail=f"document {document.id} ({document.content_hash}) is already "
                    f"recorded in {document.scope.team_id}/{document.scope.channel_id}"
                ) from exc
            session.add(DocumentFileRow(document_id=document.id, data=data))
            session.add_all(_page_row(document.id, page) for page in pages)
            if self._generation is not None:
                session.add(
                    GenerationDocumentRow(generation_id=self._generation, document_id=document.id)
                )
        logger.info(
            "recorded document %s (%d pages) in %s/%s",
            document.id,
            len(pages),
            document.scope.team_id,
            document.scope.channel_id,
        )

    @translated("recording a re-indexed document")
    async def mark_indexed(self, document_id: str) -> None:
        """Record that every point of the document is in this catalog's generation."""
        if self._generation is None:
            raise ValueError("this catalog has no vector index generation")
        async with self._sessions() as session, session.begin():
            statement = insert_for(session, GenerationDocumentRow).values(
                generation_id=self._generation, document_id=document_id
            )
            await session.execute(statement.on_conflict_do_nothing())

    @translated("reading a document")
    async def get(self, document_id: str) -> Document | None:
        """The document with this id, whatever its channel (callers check visibility)."""
        async with self._sessions() as session:
            row = await session.get(DocumentRow, document_id)
        return None if row is None else _document(row)

    @translated("reading a document's file")
    async def data(self, document_id: str) -> bytes:
        """The original bytes of a document; StoreError when they are missing."""
        async with self._sessions() as session:
            data = await session.scalar(
                select(DocumentFileRow.data).where(DocumentFileRow.document_id == document_id)
            )
        if data is None:
            raise StoreError(detail=f"no stored file for document {document_id}")
        return bytes(data)

    @translated("reading pages")
    async def pages(self, document_id: str) -> list[PageInfo]:
        """All pages of a document, in order."""
        query = select(PageRow).where(PageRow.document_id == document_id).order_by(PageRow.number)
        async with self._sessions() as session:
            rows = (await session.scalars(query)).all()
        return [_page(row) for row in rows]

    @translated("listing documents")
    async def visible(self, audience: Audience) -> list[Document]:
        """Documents that may answer questions asked in ``audience``, newest first."""
        query = select(DocumentRow).where(_visible_to(audience)).order_by(*_newest_first())
        async with self._sessions() as session:
            rows = (await session.scalars(query)).all()
        return [_document(row) for row in rows]

    @translated("counting documents")
    async def count_answering(self, audience: Audience) -> int:
        """How many documents answer questions asked in ``audience`` (none superseded)."""
        query = select(func.count(DocumentRow.id)).where(
            _visible_to(audience), DocumentRow.superseded_at.is_(None)
        )
        async with self._sessions() as session:
            return int(await session.scalar(query) or 0)

    async def find_visible(self, audience: Audience, ref: str) -> Document | None:
        """A visible document by id, id prefix (6+ chars) or exact file name (any case).

        An exact id wins; otherwise, when several match, the most recent one.
        """
        matches = await self.matching_visible(audience, ref)
        exact = [document for document in matches if document.id == ref.strip()]
        chosen = exact or matches
        return chosen[0] if chosen else None

    @translated("finding a document")
    async def matching_visible(self, audience: Audience, ref: str) -> list[Document]:
        """Visible documents ``ref`` names (id, id prefix of 6+ chars, file name), newest first."""
        ref = ref.strip()
        if not ref:
            return []
        matches = [DocumentRow.id == ref, func.lower(DocumentRow.file_name) == ref.lower()]
        if len(ref) >= MIN_ID_PREFIX:
            matches.append(DocumentRow.id.startswith(ref.lower(), autoescape=True))
        query = (
            select(DocumentRow)
            .where(_visible_to(audience), or_(*matches))
            .order_by(*_newest_first())
        )
        async with self._sessions() as session:
            rows = (await session.scalars(query)).all()
        return [_document(row) for row in rows]

    @translated("finding documents by Slack file")
    async def by_slack_file(self, team_id: str, slack_file_id: str) -> list[Document]:
        """Every document made from this Slack file (one per channel it was shared in)."""
        query = (
            select(DocumentRow)
            .where(DocumentRow.team_id == team_id, DocumentRow.slack_file_id == slack_file_id)
            .order_by(*_newest_first())
        )
        async with self._sessions() as session:
            rows = (await session.scalars(query)).all()
        return [_document(row) for row in rows]

    @translated("finding earlier versions")
    async def earlier_versions(self, document: Document) -> list[Document]:
        """Current documents in ``document``'s channel that it replaces, newest first.

        A version is a document with the same file name, or made from the same Slack file
        (edited in place), that is not superseded yet.
        """
        scope = document.scope
        same_file = [func.lower(DocumentRow.file_name) == document.file_name.lower()]
        if document.slack_file_id is not None:
            same_file.append(DocumentRow.slack_file_id == document.slack_file_id)
        query = (
            select(DocumentRow)
            .where(
                DocumentRow.team_id == scope.team_id,
                DocumentRow.channel_id == scope.channel_id,
                DocumentRow.id != document.id,
                DocumentRow.superseded_at.is_(None),
                or_(*same_file),
            )
            .order_by(*_newest_first())
        )
        async with self._sessions() as session:
            rows = (await session.scalars(query)).all()
        return [_document(row) for row in rows]

    @translated("marking a document superseded")
    async def supersede(self, document_id: str) -> bool:
        """Mark a document replaced by a newer version; False when it was gone or already so."""
        async with self._sessions() as session, session.begin():
            statement = (
                update(DocumentRow)
                .where(DocumentRow.id == document_id, DocumentRow.superseded_at.is_(None))
                .values(superseded_at=utcnow())
            )
            return rowcount(await session.execute(statement)) == 1

    @translated("listing a channel's Slack files")
    async def slack_files_in(self, scope: Scope, slack_file_ids: Sequence[str]) -> set[str]:
        """Which of these Slack files have a document in ``scope``'s channel."""
        if not slack_file_ids:
            return set()
        query = select(DocumentRow.slack_file_id).where(
            DocumentRow.team_id == scope.team_id,
            DocumentRow.channel_id == scope.channel_id,
            DocumentRow.slack_file_id.in_(list(slack_file_ids)),
        )
        async with self._sessions() as session:
            return {str(v) for v in (await session.scalars(query)).all() if v is not None}

    @translated("finding uploads of a document")
    async def uploads_showing(self, document_id: str) -> list[str]:
        """Chat file ids of the page images posted with answers that cited the document."""
        quoted = cast_(AnswerRow.citations, Text).contains(document_id, autoescape=True)
        async with self._sessions() as session:
            lists = (await session.scalars(select(AnswerRow.uploaded_files).where(quoted))).all()
        return list(dict.fromkeys(file_id for ids in lists for file_id in ids or ()))

    @translated("deleting a document")
    async def delete(self, document_id: str) -> bool:
        """Delete a document and every stored copy of its text; False when there was none.

        With the row go its pages and bytes (cascade), its figures' captions, its
        ingestion jobs' file name, summary and error, and the answers that cited it: their
        text quotes it, and follow-ups would feed it back to the model as thread memory.
        """
        quoted = cast_(AnswerRow.citations, Text).contains(document_id, autoescape=True)
        async with self._sessions() as session, session.begin():
            await session.execute(delete(AnswerRow).where(quoted))
            await session.execute(
                delete(CaptionRow).where(
                    CaptionRow.image_hash.startswith(f"{document_id}:", autoescape=True)
                )
            )
            # The job row stays (it tells a re-delivered share or a backfill that this file
            # was handled), emptied of the document's words.
            await session.execute(
                update(IngestionJobRow)
                .where(IngestionJobRow.document_id == document_id)
                .values(file_name=FORGOTTEN, summary=None, error=None, document_id=None)
            )
            result = await session.execute(delete(DocumentRow).where(DocumentRow.id == document_id))
        deleted = rowcount(result) > 0
        if deleted:
            logger.info("deleted document %s", document_id)
        return deleted

    @translated("changing a channel's visibility")
    async def set_channel_private(self, team_id: str, channel_id: str, private: bool) -> int:
        """Mark the documents of one channel private to it (or public); how many changed."""
        statement = (
            update(DocumentRow)
            .where(
                DocumentRow.team_id == team_id,
                DocumentRow.channel_id == channel_id,
                DocumentRow.channel_private != private,
            )
            .values(channel_private=private)
        )
        async with self._sessions() as session, session.begin():
            return rowcount(await session.execute(statement))

    @translated("listing channels")
    async def channels(self) -> list[tuple[str, str]]:
        """Every (team, channel) that holds documents."""
        query = select(DocumentRow.team_id, DocumentRow.channel_id).distinct()
        async with self._sessions() as session:
            return [(team, channel) for team, channel in (await session.execute(query)).all()]

    @translated("counting documents")
    async def counts(self, team_id: str | None = None) -> tuple[int, int]:
        """(documents, pages) indexed, in one team or in all."""
        query = select(
            func.count(DocumentRow.id), func.coalesce(func.sum(DocumentRow.page_count), 0)
        )
        if team_id is not None:
            query = query.where(DocumentRow.team_id == team_id)
        async with self._sessions() as session:
            documents, pages = (await session.execute(query)).one()
        return int(documents), int(pages)


def _visible_to(audience: Audience) -> ColumnElement[bool]:
    # The same rule retrieval filters on: same team, and a public channel or this very channel
    # (only this very channel when the channel is shared outside or the asker is a guest).
    if audience.own_channel_only:
        return (DocumentRow.team_id == audience.team_id) & (
            DocumentRow.channel_id == audience.channel_id
        )
    return (DocumentRow.team_id == audience.team_id) & or_(
        DocumentRow.channel_private == false(), DocumentRow.channel_id == audience.channel_id
    )


def _newest_first() -> tuple[UnaryExpression[Any], ...]:
    # The id breaks ties between documents recorded in the same microsecond.
    return (DocumentRow.created_at.desc(), DocumentRow.id.desc())


def _row(document: Document, size_bytes: int) -> DocumentRow:
    return DocumentRow(
        id=document.id,
        team_id=document.scope.team_id,
        channel_id=document.scope.channel_id,
        channel_private=document.scope.channel_private,
        file_name=clean_text(document.file_name),
        content_hash=document.content_hash,
        kind=document.kind,
        page_count=document.page_count,
        figure_count=document.figure_count,
        size_bytes=size_bytes,
        slack_file_id=document.slack_file_id,
        uploader_id=document.uploader_id,
        permalink=document.permalink,
        created_at=document.created_at,
        superseded_at=document.superseded_at,
    )


def _document(row: DocumentRow) -> Document:
    return Document(
        id=row.id,
        scope=Scope(row.team_id, row.channel_id, row.channel_private),
        file_name=row.file_name,
        content_hash=row.content_hash,
        kind=cast(DocumentKind, row.kind),
        page_count=row.page_count,
        figure_count=row.figure_count,
        created_at=row.created_at,
        slack_file_id=row.slack_file_id,
        uploader_id=row.uploader_id,
        permalink=row.permalink,
        superseded_at=row.superseded_at,
    )


def _page_row(document_id: str, page: PageInfo) -> PageRow:
    return PageRow(
        document_id=document_id,
        number=page.number,
        width=page.width,
        height=page.height,
        text=clean_text(page.text),
        figure_count=page.figure_count,
    )


def _page(row: PageRow) -> PageInfo:
    return PageInfo(
        number=row.number,
        width=row.width,
        height=row.height,
        text=row.text,
        figure_count=row.figure_count,
    )
