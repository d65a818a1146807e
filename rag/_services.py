"""Builds folio's components from Settings: the one place real clients and models are made."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from functools import partial

from openai import AsyncOpenAI
from sqlalchemy.ext.asyncio import AsyncEngine

from rag._jobs import JobQueue
from rag._llm import VisionModel
from rag.answer._answerer import Answerer
from rag.answer._pages import PageRenderer
from rag.answer._retrieve import Retriever
from rag.db import (
    AnswerLog,
    CaptionCache,
    Catalog,
    ChannelSettingsStore,
    EventLog,
    create_engine,
    session_factory,
)
from rag.db.migrate import aupgrade_database, current_revision, head_revision
from rag.embed import Bm25Encoder, ClipEmbedder, TextEmbedder
from rag.errors import ConfigError
from rag.index import VectorDims, VectorIndex, open_index
from rag.ingest._captions import Captioner
from rag.ingest._ingestor import Ingestor
from rag.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Services:
    """Every long-lived component of a folio process, wired together."""

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
    model: VisionModel | None


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


async def load_models(settings: Settings) -> tuple[ClipEmbedder, TextEmbedder]:
    """Load CLIP and the text model once per process, off the event loop."""
    precision = settings.embed_precision
    clip = await asyncio.to_thread(
        partial(ClipEmbedder.load, settings.clip_model, precision=precision)
    )
    text = await asyncio.to_thread(
        partial(TextEmbedder.load, settings.text_model, precision=precision)
    )
    return clip, text


def settings_index(settings: Settings) -> VectorIndex:
    """The vector index Settings name (Edge under the data dir, or a Qdrant server); not opened."""
    return open_index(
        qdrant_url=settings.qdrant_url,
        qdrant_api_key=settings.qdrant_api_key.value if settings.qdrant_api_key else None,
        path=settings.qdrant_path,
        collection=settings.qdrant_collection,
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
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    """Open stores, load models and wire every component; closes them on exit."""
    async with AsyncExitStack() as stack:
        engine = await prepare_database(settings)
        stack.push_async_callback(engine.dispose)
        sessions = session_factory(engine)
        clip, text = await load_models(settings)
        index = settings_index(settings)
        await index.open(VectorDims(clip=clip.dim, text=text.dim))
        stack.push_async_callback(index.close)
        catalog = Catalog(sessions=sessions)
        model = build_model(settings, stack)
        captioner = None
        if model is not None and settings.llm.max_captions_per_document > 0:
            captioner = Captioner(
                model=model,
                store=CaptionCache(sessions=sessions),
                model_name=settings.llm.vision_model,
                max_per_document=settings.llm.max_captions_per_document,
            )
        bm25 = Bm25Encoder()
        retriever = Retriever(
            index=index, clip=clip, text=text, bm25=bm25, config=settings.retrieval
        )
        pages = PageRenderer(catalog=catalog, dpi=settings.parse.render_dpi)
        yield Services(
            settings=settings,
            engine=engine,
            catalog=catalog,
            index=index,
            clip=clip,
            text=text,
            bm25=bm25,
            retriever=retriever,
            ingestor=Ingestor(
                catalog=catalog,
                index=index,
                clip=clip,
                text=text,
                bm25=bm25,
                limits=settings.parse,
                captioner=captioner,
            ),
            answerer=Answerer(
                searcher=retriever,
                pages=pages,
                model=model,
                config=settings.llm,
                top_k=settings.retrieval.top_k,
            ),
            pages=pages,
            jobs=JobQueue(sessions=sessions),
            events=EventLog(sessions=sessions),
            channels=ChannelSettingsStore(sessions=sessions),
            answers=AnswerLog(sessions=sessions),
            model=model,
        )
