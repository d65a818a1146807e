"""ChildEmbedder: `folio serve` embeds documents in a child with its own copy of the models."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from rag._services import open_services
from rag.ingest._ingestor import ChildEmbedder, EmbedModels, build_points
from rag.ingest._isolate import ChildPool
from rag.ingest._parse import parse_document
from rag.settings import ParseLimits
from rag.types import Audience, Document, Scope
from tests.fakes import documents
from tests.fakes.services import ingest, open_test_services, settings_for

SCOPE = Scope("T1", "C1")


@pytest.fixture
async def child(tiny_clip_dir: Path, minilm_dir: Path) -> AsyncIterator[ChildEmbedder]:
    embedder = ChildEmbedder(
        pool=ChildPool(size=1, memory_mb=0),
        models=EmbedModels(clip=str(tiny_clip_dir), text=str(minilm_dir), precision="float32"),
        timeout_s=300,
    )
    yield embedder
    await embedder.close()


def a_document(page_count: int, figure_count: int) -> Document:
    return Document(
        id="0f4c2a52-6a7b-5d1e-9c31-2b8f0e6d4a10",
        scope=SCOPE,
        file_name="growth.pdf",
        content_hash="0" * 64,
        kind="pdf",
        page_count=page_count,
        figure_count=figure_count,
        created_at=datetime(2026, 11, 30, tzinfo=UTC),
    )


async def test_the_child_makes_the_points_this_process_would_and_stays(
    tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path, child: ChildEmbedder
) -> None:
    parsed = await parse_document(documents.pdf_with_figure(), "growth.pdf", ParseLimits())
    document = a_document(len(parsed.pages), parsed.figure_count)
    captions: list[str | None] = [None] * (len(parsed.pages) + parsed.figure_count)
    settings = settings_for(tmp_path, tiny_clip_dir, minilm_dir, FOLIO_EMBED_PRECISION="float32")
    async with open_test_services(settings) as services:
        here = await build_points(
            document, parsed, captions, clip=services.clip, text=services.text, bm25=services.bm25
        )

    there = await child.points(document, parsed, captions)
    pids = child.pids
    again = await child.points(document, parsed, captions)

    assert pids and os.getpid() not in pids
    assert child.pids == pids and again == there  # one child, its models kept loaded
    assert [p.id for p in there] == [p.id for p in here] and len(here) >= 3
    assert [p.payload for p in there] == [p.payload for p in here]
    assert [p.bm25 for p in there] == [p.bm25 for p in here]
    for mine, theirs in zip(here, there, strict=True):
        for ours, its in ((mine.text, theirs.text), (mine.clip, theirs.clip)):
            assert (ours is None) == (its is None)
            if ours is not None and its is not None:
                assert np.allclose(ours, its, atol=1e-5)


async def test_services_that_embed_in_a_child_index_and_find_documents(
    tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path
) -> None:
    settings = settings_for(tmp_path, tiny_clip_dir, minilm_dir)
    async with open_services(settings, embed_in_child=True) as services:
        data = documents.text_pdf(["The harbour crane was repainted green in April."])
        result = await ingest(services, data, "harbour.pdf", SCOPE)
        pages = await services.retriever.search(
            "When was the harbour crane repainted?", audience=Audience("T1", "C1"), limit=5
        )
        assert result.created and await services.index.count(document_id=result.document.id)
        assert [p.document_id for p in pages][:1] == [result.document.id]


@pytest.mark.parametrize(("embed_in_child", "backend"), [(True, "torch"), (False, "openvino")])
async def test_a_process_whose_documents_embed_in_a_child_asks_its_questions_on_torch(
    tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path, embed_in_child: bool, backend: str
) -> None:
    """`folio serve` embeds only questions itself: no OpenVINO export held beside its models."""
    settings = settings_for(
        tmp_path,
        tiny_clip_dir,
        minilm_dir,
        FOLIO_EMBED_BACKEND="openvino",
        FOLIO_EMBED_PRECISION="float32",
    )
    async with open_services(settings, embed_in_child=embed_in_child) as services:
        assert services.text.backend.split("-")[0] == backend
        assert services.clip.backend.split("-")[0] == backend
        pages = await services.retriever.search(
            "When was the crane repainted?", audience=Audience("T1", "C1"), limit=5
        )
        assert pages == []
