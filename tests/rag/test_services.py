"""rag._services.open_services: what it builds from Settings, and how it opens and closes stores."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from rag._llm import VisionModel
from rag._outbox import OwnedIndex
from rag._services import open_services
from rag.answer._prompts import CAPTION_SYSTEM
from rag.db.migrate import current_revision, head_revision
from rag.errors import ConfigError, IndexUnavailable, StoreLocked
from rag.index.edge import EdgeIndex
from rag.ingest._child import INGEST_NICE, RENDER_NICE
from rag.types import Audience, Scope
from tests.fakes import documents
from tests.fakes.database import postgres_base_url, throwaway_postgres_database
from tests.fakes.openai_server import FakeOpenAI, Recorded
from tests.fakes.services import ingest, model_env, open_test_services, settings_for

SCOPE = Scope("T1", "C1")
CAPTION = "Bar chart of zebra sightings per region, with a pie of habitat shares."


def caption_requests(fake: FakeOpenAI) -> list[Recorded]:
    """The figure-caption requests the fake received."""
    return [r for r in fake.requests if r.messages[0].get("content") == CAPTION_SYSTEM]


def captioning(request: dict[str, Any]) -> str:
    """A responder that captions every figure with CAPTION."""
    return CAPTION


async def test_without_a_key_there_is_no_model_and_stores_are_embedded_and_migrated(
    tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path
) -> None:
    settings = settings_for(tmp_path, tiny_clip_dir, minilm_dir)
    assert not settings.data_dir.exists()
    async with open_test_services(settings) as services:
        assert services.model is None
        assert isinstance(services.index, OwnedIndex)  # workers write through the outbox
        assert isinstance(services.index.store, EdgeIndex)
        assert settings.qdrant_path.is_dir()
        assert await services.index.count() == 0
        assert await services.catalog.counts() == (0, 0)
    assert await current_revision(settings.database_url) == head_revision()


async def test_documents_survive_a_restart(
    tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path
) -> None:
    settings = settings_for(tmp_path, tiny_clip_dir, minilm_dir)
    data = documents.text_pdf(["The ferry timetable changes on the first of May."])
    async with open_test_services(settings) as services:
        first = await ingest(services, data, "ferry.pdf", SCOPE)
        points = await services.index.count(document_id=first.document.id)
    async with open_test_services(settings) as services:
        assert await services.catalog.get(first.document.id) == first.document
        assert await services.index.count(document_id=first.document.id) == points > 0
        pages = await services.retriever.search("ferry timetable", audience=Audience("T1", "C1"))
        assert pages[0].document_id == first.document.id
        again = await ingest(services, data, "ferry.pdf", SCOPE)
        assert not again.created


async def test_page_renders_run_behind_the_event_loop_and_ahead_of_ingest(
    tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path
) -> None:
    # A render child at the bot's own priority took a core from its event loop whenever
    # answers' renders filled both (bench.load: the loop woke late while they ran).
    settings = settings_for(tmp_path, tiny_clip_dir, minilm_dir)
    data = documents.text_pdf(["The ferry timetable changes on the first of May."])
    async with open_test_services(settings) as services:
        added = await ingest(services, data, "ferry.pdf", SCOPE)
        png = await services.pages.page_png(added.document.id, 1)
        assert png is not None and png.startswith(b"\x89PNG")
        [child] = services.pages.pids
        niceness = os.getpriority(os.PRIO_PROCESS, child)
        assert niceness == min(19, os.nice(0) + RENDER_NICE)
        assert os.nice(0) < niceness < min(19, os.nice(0) + INGEST_NICE)


async def test_a_second_process_on_the_same_data_dir_is_refused_with_store_locked(
    tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path
) -> None:
    settings = settings_for(tmp_path, tiny_clip_dir, minilm_dir)
    async with open_test_services(settings):
        with pytest.raises(StoreLocked) as caught:
            async with open_test_services(settings):
                pass  # pragma: no cover - the open must fail
    assert caught.value.user_message.startswith(
        f"Another folio process is using the vector store in {settings.qdrant_path}"
    )
    async with open_test_services(settings) as services:  # released on close
        assert await services.index.count() == 0


async def test_an_unreachable_qdrant_server_stops_start_up_with_index_unavailable(
    tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path
) -> None:
    settings = settings_for(tmp_path, tiny_clip_dir, minilm_dir, QDRANT_URL="http://127.0.0.1:9")
    with pytest.raises(IndexUnavailable) as caught:
        async with open_test_services(settings):
            pass  # pragma: no cover - the open must fail
    assert "Qdrant" in caught.value.user_message


@pytest.mark.skipif(postgres_base_url() is None, reason="FOLIO_TEST_DATABASE_URL is not set")
async def test_a_postgres_database_behind_the_schema_stops_start_up(
    tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path
) -> None:
    base = postgres_base_url()
    assert base is not None
    with throwaway_postgres_database(base) as url:
        settings = settings_for(tmp_path, tiny_clip_dir, minilm_dir, DATABASE_URL=url)
        with pytest.raises(ConfigError) as caught:
            async with open_test_services(settings):
                pass  # pragma: no cover - the open must fail
    assert "run `folio db upgrade` first" in str(caught.value)


async def test_with_a_key_figures_are_captioned_and_captions_are_searchable(
    tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path, fake_openai: FakeOpenAI
) -> None:
    fake_openai.responder = captioning
    settings = settings_for(
        tmp_path,
        tiny_clip_dir,
        minilm_dir,
        FOLIO_VISION_MODEL="vision-x",
        **model_env(fake_openai.url),
    )
    data = documents.pdf_with_figure()
    async with open_test_services(settings) as services:
        assert isinstance(services.model, VisionModel)
        assert services.model.config.vision_model == "vision-x"
        result = await ingest(services, data, "zebras.pdf", SCOPE)
        asked = caption_requests(fake_openai)
        # The page render and each figure, one request per distinct picture.
        assert 2 <= len(asked) <= 1 + result.document.figure_count
        assert {r.model for r in asked} == {"vision-x"}
        assert all(len(r.image_urls()) == 1 for r in asked)

        pages = await services.retriever.search(
            "zebra sightings habitat", audience=Audience("T1", "C1")
        )
        top = pages[0]
        assert top.document_id == result.document.id
        assert any(h.kind in ("figure", "page") and h.text == CAPTION for h in top.hits)

        # The same pictures in another (private) channel: a caption is written from its
        # page's text, so it is never reused across documents, let alone scopes.
        before = len(fake_openai.requests)
        await ingest(services, data, "zebras.pdf", Scope("T1", "G2", channel_private=True))
        assert len(fake_openai.requests) == before + len(asked)


@pytest.mark.parametrize("cap", [0, 1])
async def test_folio_max_captions_caps_caption_requests_per_document(
    tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path, fake_openai: FakeOpenAI, cap: int
) -> None:
    fake_openai.responder = captioning
    settings = settings_for(
        tmp_path,
        tiny_clip_dir,
        minilm_dir,
        FOLIO_MAX_CAPTIONS=str(cap),
        **model_env(fake_openai.url),
    )
    async with open_test_services(settings) as services:
        result = await ingest(services, documents.pdf_with_figure(), "zebras.pdf", SCOPE)
    assert result.document.figure_count >= 2
    assert len(caption_requests(fake_openai)) == cap


async def test_closing_the_services_closes_the_model_client(
    tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path, fake_openai: FakeOpenAI
) -> None:
    settings = settings_for(tmp_path, tiny_clip_dir, minilm_dir, **model_env(fake_openai.url))
    async with open_services(settings) as services:
        client = services.model._client  # type: ignore[union-attr]
        assert not client.is_closed()
    assert client.is_closed()
