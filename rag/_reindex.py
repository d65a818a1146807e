"""`folio reindex`: rebuild every vector from the stored files, then switch to them at once.

The configured models build a new generation of the vector index (its own Qdrant
collection or Edge folder) document by document, each recorded when complete, so an
interrupted run resumes where it stopped. Until the last document is in, the old
generation stays active: a folio still running the old models keeps answering from it.
Then one transaction makes the new generation active, and the old store is dropped
(unless a running folio still holds it; it goes on a later run). When the models did not
change, reindex only adds documents the active generation lacks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rag._services import (
    build_captioner,
    build_model,
    load_models,
    open_generation,
    prepare_database,
    settings_index,
)
from rag.db import Catalog, session_factory
from rag.db.generations import Generation, Generations
from rag.embed import Bm25Encoder, ClipEmbedder, TextEmbedder, vector_models
from rag.errors import ConfigError, DocumentError, StoreLocked
from rag.index import VectorDims
from rag.ingest._ingestor import Ingestor
from rag.settings import Settings
from rag.types import VectorModels

logger = logging.getLogger(__name__)

# What an index made before folio recorded its models, with vectors of other sizes, is
# recorded as: it matches no models, so it is rebuilt.
UNKNOWN_MODELS = VectorModels("unknown", "unknown", 0, "unknown", "unknown", 0)
Progress = Callable[[int, int, str], None]  # (documents done, documents in all, file name)


@dataclass(frozen=True)
class ReindexReport:
    """What a reindex run did."""

    rebuilt: int  # documents embedded in this run
    total: int  # documents the target generation holds now
    switched: bool  # the target generation became active in this run
    models: VectorModels
    failed: tuple[tuple[str, str], ...] = ()  # (file name, why) of documents left out
    kept: tuple[str, ...] = field(default=())  # old stores still in use, dropped later


@dataclass
class _Tools:
    """What embedding a document needs, for one generation."""

    sessions: async_sessionmaker[AsyncSession]
    clip: ClipEmbedder
    text: TextEmbedder
    models: VectorModels


async def reindex(
    settings: Settings, *, rebuild_all: bool = False, progress: Progress | None = None
) -> ReindexReport:
    """Bring the vector index up to the configured models (see the module docstring)."""
    async with AsyncExitStack() as stack:
        engine = await prepare_database(settings)
        stack.push_async_callback(engine.dispose)
        sessions = session_factory(engine)
        clip, text = await load_models(settings)
        tools = _Tools(sessions, clip, text, await asyncio.to_thread(vector_models, clip, text))
        registry = Generations(sessions=sessions)
        target = await _target(settings, registry, tools, rebuild_all)
        rebuilt, failed = await _fill(settings, stack, registry, target, tools, progress)
        total = await registry.held(target.id)
        if failed:
            # The old generation keeps answering rather than losing these documents.
            return ReindexReport(rebuilt, total, False, tools.models, tuple(failed))
        switched = target.status != "active"
        if switched:
            await registry.activate(target.id)
        kept = await drop_retired(settings, registry)
        return ReindexReport(rebuilt, total, switched, tools.models, (), tuple(kept))


async def _target(
    settings: Settings, registry: Generations, tools: _Tools, rebuild_all: bool
) -> Generation:
    """The active generation when it fits the models (to fill gaps), else a building one."""
    active = await registry.active()
    if active is None:
        try:  # a first start records the existing index, as any folio command would
            active, index = await open_generation(settings, tools.sessions, tools.models)
            await index.close()
        except ConfigError:
            # An index older than the record, made by models of other sizes: rebuild it.
            active = await registry.first(UNKNOWN_MODELS)
    if active is not None and active.models.same_vectors(tools.models) and not rebuild_all:
        return active
    target, stale = await registry.building(tools.models)
    for generation in stale:
        # An unfinished build for models that are configured no longer.
        await _drop(settings, generation)
    return target


async def _fill(
    settings: Settings,
    stack: AsyncExitStack,
    registry: Generations,
    target: Generation,
    tools: _Tools,
    progress: Progress | None,
) -> tuple[int, list[tuple[str, str]]]:
    """Embed every document the target lacks; again for any added meanwhile."""
    index = settings_index(settings, target.store)
    await index.open(VectorDims(clip=tools.models.clip_dim, text=tools.models.text_dim))
    stack.push_async_callback(index.close)
    catalog = Catalog(sessions=tools.sessions, generation=target.id)
    ingestor = Ingestor(
        catalog=catalog,
        index=index,
        clip=tools.clip,
        text=tools.text,
        bm25=Bm25Encoder(),
        limits=settings.parse,
        captioner=build_captioner(settings, build_model(settings, stack), tools.sessions),
        token_vectors=settings.token_vectors,
    )
    done, rebuilt = await registry.held(target.id), 0
    failed: dict[str, tuple[str, str]] = {}
    while missing := [d for d in await registry.missing(target.id) if d not in failed]:
        total = done + len(missing)
        for document_id in missing:
            document = await catalog.get(document_id)
            if document is None:  # forgotten meanwhile
                continue
            if progress is not None:
                progress(done, total, document.file_name)
            try:
                await ingestor.reindex(document)
            except DocumentError as exc:
                logger.warning("reindex left out document %s: %s", document.id, exc.detail)
                failed[document.id] = (document.file_name, exc.user_message)
                continue
            done, rebuilt = done + 1, rebuilt + 1
    if progress is not None:
        progress(done, done + len(failed), "")
    return rebuilt, list(failed.values())


async def drop_retired(settings: Settings, registry: Generations) -> list[str]:
    """Drop the stores of retired generations; the names of those still in use."""
    kept = []
    for generation in await registry.retired():
        if await _drop(settings, generation):
            await registry.forget(generation.id)
        else:
            kept.append(_store_name(settings, generation))
    return kept


async def _drop(settings: Settings, generation: Generation) -> bool:
    """Delete a generation's store; False when another process still has it open."""
    index = settings_index(settings, generation.store)
    dims = VectorDims(clip=generation.models.clip_dim, text=generation.models.text_dim)
    try:
        await index.open(dims)  # on Edge, taking the lock proves no one else holds it
    except StoreLocked:
        logger.info("old vector store %s is still in use", _store_name(settings, generation))
        return False
    except ConfigError:
        # Made by models of other sizes: dropped without the lock check. A folio still on
        # those models must restart anyway; what it adds meanwhile, reindex adds again.
        pass
    await index.drop()
    return True


def _store_name(settings: Settings, generation: Generation) -> str:
    suffix = f"-{generation.store}" if generation.store else ""
    if settings.embedded_index:
        return str(settings.qdrant_path.with_name(settings.qdrant_path.name + suffix))
    return f"collection {settings.qdrant_collection + suffix}"
