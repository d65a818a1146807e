"""Builds folio from Settings: the one place real clients and models are made.

``open_folio`` yields the use cases an adapter calls (``Folio``); ``open_services`` yields
every component as well (``Services``), for the CLI, evaluation and tests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from functools import partial

from openai import AsyncOpenAI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from rag._backfill import Backfills
from rag._channels import Channels
from rag._fleet import Fleet
from rag._health import HealthCheck
from rag._jobs import JobQueue
from rag._library import Library
from rag._llm import VisionModel
from rag._outbox import OutboxApplier, OutboxIndex, OwnedIndex
from rag._overview import Overview
from rag.answer._answerer import Answerer
from rag.answer._attached import Attachments
from rag.answer._pages import PageRenderer
from rag.answer._questions import Questions
from rag.answer._retrieve import Retriever
from rag.db import (
    AnswerLog,
    BackfillLog,
    CaptionCache,
    Catalog,
    ChannelSettingsStore,
    EventLog,
    create_engine,
    session_factory,
)
from rag.db.generations import Generation, Generations
from rag.db.migrate import aupgrade_database, current_revision, head_revision
from rag.db.outbox import PointOutbox
from rag.db.workers import WorkerRegistry
from rag.embed import Bm25Encoder, ClipEmbedder, TextEmbedder, vector_models
from rag.errors import ConfigError, StaleIndex
from rag.index import VectorDims, VectorIndex, open_index
from rag.ingest._captions import Captioner
from rag.ingest._child import INGEST_NICE, RENDER_NICE
from rag.ingest._ingestor import ChildEmbedder, EmbedModels, Ingestor
from rag.ingest._isolate import ChildPool
from rag.settings import Backend, Settings
from rag.types import VectorModels

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Folio:
    """folio's use cases, as an adapter (the Slack bot, a script) calls them.

    Each takes only the components it uses: ``questions`` answers and remembers,
    ``library`` indexes, lists, searches and forgets documents, ``channels`` holds the
    per-channel switches, ``overview`` reads status and home pages, ``jobs`` queues files
    to index, ``events`` tells a new event from a repeated delivery, ``backfills``
    queues the files already in a channel, ``health`` says whether both stores answer,
    and ``fleet`` sees the other processes (workers' heartbeats, the index outbox).
    """

    questions: Questions
    library: Library
    channels: Channels
    overview: Overview
    jobs: JobQueue
    events: EventLog
    backfills: Backfills
    health: HealthCheck
    fleet: Fleet


@dataclass(frozen=True, slots=True)
class Services:
    """Every long-lived component of a folio process, wired together, and its use cases."""

    settings: Settings
    engine: AsyncEngine
    catalog: Catalog
    index: VectorIndex
    clip: ClipEmbedder
    text: TextEmbedder
    bm25: Bm25Encoder
    retriever: Retriever
    ingestor: Ingestor
    answerer: Answerer
    pages: PageRenderer
    jobs: JobQueue
    events: EventLog
    channels: ChannelSettingsStore
    answers: AnswerLog
    backfills: BackfillLog
    model: VisionModel | None
    workers: WorkerRegistry
    # The outbox as the index owner applies it, or as a worker beside the owner writes it.
    applier: OutboxApplier | None = None
    writer: OutboxIndex | None = None

    @property
    def folio(self) -> Folio:
        """The use cases over these components (light objects, built on each access)."""
        return _use_cases(self)


async def prepare_database(settings: Settings) -> AsyncEngine:
    """Open the database; SQLite is migrated on the spot, a server must already be at head."""
    url = settings.database_url
    if url.startswith("sqlite"):
        await aupgrade_database(url)
    elif await current_revision(url) != head_revision():
        raise ConfigError(
            detail="The database at DATABASE_URL is not at the current schema; "
            "run `folio db upgrade` first."
        )
    return create_engine(url)


async def load_models(
    settings: Settings, *, backend: Backend | None = None
) -> tuple[ClipEmbedder, TextEmbedder]:
    """Load CLIP and the text model once per process, off the event loop.

    ``backend`` overrides FOLIO_EMBED_BACKEND: a process that embeds only questions (`folio
    serve`, whose documents embed in a child) keeps torch, since an OpenVINO export holds
    a few hundred MB more for a few ms less per question.
    """
    precision = settings.embed_precision
    backend = backend or settings.embed_backend
    clip = await asyncio.to_thread(
        partial(
            ClipEmbedder.load,
            settings.clip_model,
            precision=precision,
            backend=backend,
            cache=settings.model_cache,
        )
    )
    text = await asyncio.to_thread(
        partial(
            TextEmbedder.load,
            settings.text_model,
            precision=precision,
            backend=backend,
            cache=settings.model_cache,
        )
    )
    return clip, text


def settings_index(settings: Settings, store: str = "") -> VectorIndex:
    """The vector index Settings name (Edge under the data dir, or a Qdrant server); not opened.

    ``store`` names a generation's own store: a suffix of the folder or collection name.
    """
    suffix = f"-{store}" if store else ""
    return open_index(
        qdrant_url=settings.qdrant_url,
        qdrant_api_key=settings.qdrant_api_key.value if settings.qdrant_api_key else None,
        path=settings.qdrant_path.with_name(settings.qdrant_path.name + suffix),
        collection=settings.qdrant_collection + suffix,
    )


async def open_generation(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], models: VectorModels
) -> tuple[Generation, VectorIndex]:
    """The active generation of the vector index, opened; StaleIndex if it needs reindexing.

    On the first start the existing index is opened first (its dimensions are checked), then
    recorded as made by the configured models.
    """
    registry = Generations(sessions=sessions)
    dims = VectorDims(clip=models.clip_dim, text=models.text_dim)
    active = await registry.active()
    if active is not None:
        _check_current(active, models, await registry.missing(active.id))
    index = settings_index(settings, active.store if active else "")
    await index.open(dims)
    try:
        if active is None:
            active = await registry.first(models)
            _check_current(active, models, [])
    except BaseException:
        await index.close()
        raise
    return active, index


async def outbox_generation(
    outbox: PointOutbox, sessions: async_sessionmaker[AsyncSession], models: VectorModels
) -> tuple[Generation, OutboxIndex]:
    """The active generation, written to through the outbox; StaleIndex if it needs reindexing.

    The owner checks the store's dimensions when it opens it; on the first start this
    records the generation as made by the configured models.
    """
    registry = Generations(sessions=sessions)
    active = await registry.active()
    if active is None:
        active = await registry.first(models)
    _check_current(active, models, await registry.missing(active.id))
    index = OutboxIndex(outbox=outbox, generation_id=active.id)
    await index.open(VectorDims(clip=models.clip_dim, text=models.text_dim))
    return active, index


def _check_current(active: Generation, models: VectorModels, missing: list[str]) -> None:
    if not active.models.same_vectors(models):
        raise StaleIndex(
            detail=f"The vector index was built with {active.models.describe()}, but folio "
            f"is configured with {models.describe()}; run `folio reindex` to rebuild it from "
            "the stored files (a folio still running the old models keeps answering until it "
            "is done), or configure the previous models again."
        )
    if missing:
        raise StaleIndex(
            detail=f"{len(missing)} documents are missing from the vector index (a folio "
            "running the previous models added them after it was rebuilt); run "
            "`folio reindex` to add them."
        )


def build_model(settings: Settings, stack: AsyncExitStack) -> VisionModel | None:
    """The vision/answer model (None without a key); its client closes with ``stack``."""
    if settings.openai_api_key is None:
        return None
    client = AsyncOpenAI(
        api_key=settings.openai_api_key.value,
        base_url=settings.openai_base_url,
        max_retries=0,  # VisionModel retries itself, honouring Retry-After
        timeout=settings.llm.timeout_s,
    )
    stack.push_async_callback(client.close)
    return VisionModel(client=client, config=settings.llm)


@asynccontextmanager
async def open_folio(
    settings: Settings, *, embed_in_child: bool = False, index_owner: bool = True
) -> AsyncIterator[Folio]:
    """Open stores, load models and wire folio's use cases; closes everything on exit.

    ``embed_in_child``: documents are embedded in a child process with its own models (for
    ``folio serve``, whose event loop answers Slack while it indexes); see ChildEmbedder.
    ``index_owner``: see ``open_services``.
    """
    async with open_services(
        settings, embed_in_child=embed_in_child, index_owner=index_owner
    ) as services:
        yield services.folio


@asynccontextmanager
async def open_services(
    settings: Settings, *, embed_in_child: bool = False, index_owner: bool = True
) -> AsyncIterator[Services]:
    """Open stores, load models and wire every component; closes them on exit.

    ``index_owner=False`` (`folio worker`): on the embedded index this process does not open
    the store but writes through the point outbox, which the owner applies (``rag._outbox``).
    """
    async with AsyncExitStack() as stack:
        engine = await prepare_database(settings)
        stack.push_async_callback(engine.dispose)
        sessions = session_factory(engine)
        # Documents embed in the child (FOLIO_EMBED_BACKEND there); here only questions do.
        clip, text = await load_models(settings, backend="torch" if embed_in_child else None)
        models = await asyncio.to_thread(vector_models, clip, text)
        outbox = PointOutbox(sessions=sessions)
        if settings.embedded_index and not index_owner:
            generation, writer = await outbox_generation(outbox, sessions, models)
            index: VectorIndex = writer
            applier = None
        else:
            generation, index = await open_generation(settings, sessions, models)
            stack.push_async_callback(index.close)
            writer, applier = None, None
            if settings.embedded_index:
                applier = OutboxApplier(outbox=outbox, index=index, generation_id=generation.id)
                index = OwnedIndex(index=index, applier=applier)
                await applier.apply()  # what workers wrote while no owner ran
        model = build_model(settings, stack)
        embedder = _child_embedder(settings) if embed_in_child else None
        if embedder is not None:
            stack.push_async_callback(embedder.close)
        services = _wire(settings, engine, (index, generation), (clip, text), model, embedder)
        services = dataclasses.replace(services, applier=applier, writer=writer)
        stack.push_async_callback(services.pages.close)
        yield services


def _wire(
    settings: Settings,
    engine: AsyncEngine,
    vectors: tuple[VectorIndex, Generation],
    models: tuple[ClipEmbedder, TextEmbedder],
    model: VisionModel | None,
    embedder: ChildEmbedder | None = None,
) -> Services:
    """Every component over the opened stores and loaded models, then the use cases."""
    sessions = session_factory(engine)
    clip, text = models
    index, generation = vectors
    # Documents added through this catalog are recorded in the active generation.
    catalog = Catalog(sessions=sessions, generation=generation.id)
    bm25 = Bm25Encoder()
    retriever = Retriever(index=index, clip=clip, text=text, bm25=bm25, config=settings.retrieval)
    limits = settings.parse
    pages = PageRenderer(
        catalog=catalog,
        pool=ChildPool(size=limits.render_workers, memory_mb=limits.memory_mb, nice=RENDER_NICE),
        dpi=limits.render_dpi,
        timeout_s=limits.render_timeout_s,
    )
    ingestor = Ingestor(
        catalog=catalog,
        index=index,
        clip=clip,
        text=text,
        bm25=bm25,
        limits=settings.parse,
        captioner=build_captioner(settings, model, sessions),
        embedder=embedder,
        token_vectors=settings.token_vectors,
    )
    answerer = Answerer(
        searcher=retriever,
        pages=pages,
        model=model,
        config=settings.llm,
        top_k=settings.retrieval.top_k,
    )
    return Services(
        settings=settings,
        engine=engine,
        catalog=catalog,
        index=index,
        clip=clip,
        text=text,
        bm25=bm25,
        retriever=retriever,
        ingestor=ingestor,
        answerer=answerer,
        pages=pages,
        jobs=JobQueue(sessions=sessions, lease_s=settings.job_lease_s),
        events=EventLog(sessions=sessions),
        channels=ChannelSettingsStore(sessions=sessions),
        answers=AnswerLog(sessions=sessions),
        backfills=BackfillLog(sessions=sessions),
        model=model,
        # A worker beats three times per lease (at most every 10 s); silent for three beats
        # is gone.
        workers=WorkerRegistry(sessions=sessions, live_s=3 * _beat_s(settings)),
    )


def _use_cases(services: Services) -> Folio:
    """The use cases over ``services``' components, each given only what it uses."""
    settings = services.settings
    channels = Channels(
        store=services.channels,
        always_indexed=settings.index_channels,
        admins=settings.admin_users,
    )
    return Folio(
        questions=Questions(
            answerer=services.answerer,
            pages=services.pages,
            log=services.answers,
            channels=services.channels,
            attachments=Attachments(text=services.text, limits=settings.parse),
            catalog=services.catalog,
        ),
        library=Library(
            catalog=services.catalog,
            ingestor=services.ingestor,
            retriever=services.retriever,
            index=services.index,
            admins=settings.admin_users,
            old_versions=settings.old_versions,
        ),
        channels=channels,
        overview=Overview(
            catalog=services.catalog,
            jobs=services.jobs,
            channels=channels,
            log=services.answers,
            answer_model=settings.llm.answer_model if services.model is not None else None,
            vector_store="embedded" if settings.embedded_index else "server",
            workers=services.workers,
        ),
        jobs=services.jobs,
        events=services.events,
        backfills=Backfills(
            jobs=services.jobs,
            catalog=services.catalog,
            log=services.backfills,
            limit=settings.backfill_limit,
        ),
        health=HealthCheck(sessions=session_factory(services.engine), index=services.index),
        fleet=Fleet(
            registry=services.workers,
            beat_s=_beat_s(settings),
            applier=services.applier,
            writer=services.writer,
        ),
    )


def _beat_s(settings: Settings) -> float:
    return min(10.0, settings.job_lease_s / 3)


# What a child that loads models needs to find them where the parent did.
_MODEL_ENV = (
    "HOME",
    "HF_HOME",
    "HF_HUB_CACHE",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "SENTENCE_TRANSFORMERS_HOME",
    "XDG_CACHE_HOME",
    "OMP_NUM_THREADS",
)
# A 500-page document embeds in minutes on 2 cores; past this the child is stuck.
_EMBED_TIMEOUT_S = 3600.0


def _child_embedder(settings: Settings) -> ChildEmbedder:
    return ChildEmbedder(
        # Niced: embedding is throughput work, the bot's answers beside it are not.
        pool=ChildPool(size=1, memory_mb=0, keep_env=_MODEL_ENV, nice=INGEST_NICE),
        models=EmbedModels(
            clip=settings.clip_model,
            text=settings.text_model,
            precision=settings.embed_precision,
            token_vectors=settings.token_vectors,
            backend=settings.embed_backend,
            cache=settings.model_cache,
        ),
        timeout_s=_EMBED_TIMEOUT_S,
    )


def build_captioner(
    settings: Settings, model: VisionModel | None, sessions: async_sessionmaker[AsyncSession]
) -> Captioner | None:
    """Vision-model captions for figures, when a model is set and captions are wanted."""
    if model is None or not settings.captions:
        return None
    return Captioner(
        model=model,
        store=CaptionCache(sessions=sessions),
        model_name=settings.llm.vision_model,
        max_per_document=settings.llm.max_captions_per_document,
    )
