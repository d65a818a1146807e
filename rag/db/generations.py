"""Generations of the vector index: which models made each, and which documents each holds.

Exactly one generation is active at a time. Documents join the active generation when they
are indexed (``Catalog.add``); ``folio reindex`` fills a building generation document by
document (so it can resume), then switches in one transaction.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, cast

from sqlalchemy import ColumnElement, Insert, delete, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rag.db._errors import translated
from rag.db.models import DocumentRow, GenerationDocumentRow, VectorGenerationRow, utcnow
from rag.types import VectorModels

logger = logging.getLogger(__name__)

Status = Literal["building", "active", "retired"]
Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class Generation:
    """One build of the vector index; ``store`` suffixes the collection or folder name."""

    id: int
    store: str
    status: Status
    models: VectorModels


class Generations:
    """The registry of vector index generations, shared by every process on the database."""

    def __init__(
        self, *, sessions: async_sessionmaker[AsyncSession], clock: Clock = utcnow
    ) -> None:
        self._sessions = sessions
        self._clock = clock

    @translated("reading the vector index generation")
    async def active(self) -> Generation | None:
        """The generation answers come from, or None before the first start."""
        return await self._one(VectorGenerationRow.status == "active")

    @translated("recording the first vector index generation")
    async def first(self, models: VectorModels) -> Generation:
        """Record the existing index (the base store) as made by ``models``, with its documents.

        For an index older than this record folio cannot know its models and assumes the
        configured ones; `folio reindex --all` rebuilds it when in doubt. Two processes
        racing here both end up with the one that won.
        """
        try:
            async with self._sessions() as session, session.begin():
                row = _row(models, store="", status="active", now=self._clock())
                session.add(row)
                await session.flush()
                await session.execute(_all_documents_into(row.id))
        except IntegrityError:
            logger.info("another process recorded the first generation")
        found = await self.active()
        assert found is not None  # written above or by the racer
        return found

    @translated("starting a vector index generation")
    async def building(self, models: VectorModels) -> tuple[Generation, list[Generation]]:
        """The generation being built for ``models`` (made when missing), and stale builds.

        A build for other models (the models changed again before it finished) is
        returned second, for its store to be dropped; its rows are deleted here.
        """
        async with self._sessions() as session, session.begin():
            rows = (
                await session.scalars(
                    select(VectorGenerationRow).where(VectorGenerationRow.status == "building")
                )
            ).all()
            stale = [_generation(r) for r in rows if not _generation(r).models.same_vectors(models)]
            keep = next((r for r in rows if _generation(r).models.same_vectors(models)), None)
            for generation in stale:
                await session.execute(
                    delete(VectorGenerationRow).where(VectorGenerationRow.id == generation.id)
                )
            if keep is None:
                # A fresh name each build: a dropped store's name is never reused.
                store = f"g{secrets.token_hex(4)}"
                keep = _row(models, store=store, status="building", now=self._clock())
                session.add(keep)
                await session.flush()
            return _generation(keep), stale

    @translated("listing documents to index")
    async def missing(self, generation_id: int) -> list[str]:
        """Ids of documents not (completely) in the generation yet, oldest first."""
        held = select(GenerationDocumentRow.document_id).where(
            GenerationDocumentRow.generation_id == generation_id
        )
        query = (
            select(DocumentRow.id)
            .where(DocumentRow.id.not_in(held))
            .order_by(DocumentRow.created_at, DocumentRow.id)
        )
        async with self._sessions() as session:
            return list((await session.scalars(query)).all())

    @translated("counting documents in a generation")
    async def held(self, generation_id: int) -> int:
        """How many documents the generation holds completely."""
        query = select(func.count()).where(GenerationDocumentRow.generation_id == generation_id)
        async with self._sessions() as session:
            return int(await session.scalar(query) or 0)

    @translated("switching the vector index generation")
    async def activate(self, generation_id: int) -> None:
        """Make the generation active and the active one retired, in one transaction."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(VectorGenerationRow)
                .where(VectorGenerationRow.status == "active")
                .values(status="retired")
            )
            await session.execute(
                update(VectorGenerationRow)
                .where(VectorGenerationRow.id == generation_id)
                .values(status="active", activated_at=self._clock())
            )
        logger.info("vector index generation %d is now active", generation_id)

    @translated("listing retired vector index generations")
    async def retired(self) -> list[Generation]:
        """Generations replaced by a newer one whose stores may still exist."""
        query = select(VectorGenerationRow).where(VectorGenerationRow.status == "retired")
        async with self._sessions() as session:
            return [_generation(row) for row in (await session.scalars(query)).all()]

    @translated("forgetting a vector index generation")
    async def forget(self, generation_id: int) -> None:
        """Delete a generation's record (after its store was dropped)."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                delete(VectorGenerationRow).where(VectorGenerationRow.id == generation_id)
            )

    async def _one(self, condition: ColumnElement[bool]) -> Generation | None:
        async with self._sessions() as session:
            row = (await session.scalars(select(VectorGenerationRow).where(condition))).first()
        return None if row is None else _generation(row)


def _all_documents_into(generation_id: int) -> Insert:
    return insert(GenerationDocumentRow).from_select(
        ["generation_id", "document_id"], select(literal(generation_id), DocumentRow.id)
    )


def _row(models: VectorModels, *, store: str, status: Status, now: datetime) -> VectorGenerationRow:
    return VectorGenerationRow(
        store=store,
        status=status,
        clip_model=models.clip_model,
        clip_weights=models.clip_weights,
        clip_dim=models.clip_dim,
        text_model=models.text_model,
        text_weights=models.text_weights,
        text_dim=models.text_dim,
        created_at=now,
        activated_at=now if status == "active" else None,
    )


def _generation(row: VectorGenerationRow) -> Generation:
    models = VectorModels(
        clip_model=row.clip_model,
        clip_weights=row.clip_weights,
        clip_dim=row.clip_dim,
        text_model=row.text_model,
        text_weights=row.text_weights,
        text_dim=row.text_dim,
    )
    return Generation(row.id, row.store, cast(Status, row.status), models)
