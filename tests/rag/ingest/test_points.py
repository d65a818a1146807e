"""build_points: the BM25 head field and the token vectors a document's points carry."""

from __future__ import annotations

import asyncio
import gc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rag.embed import Bm25Encoder, ClipEmbedder, TextEmbedder
from rag.embed.sparse import term_id
from rag.index import IndexPoint
from rag.ingest import _ingestor as ingestor
from rag.ingest._ingestor import build_points, embedding_inputs
from rag.ingest._parse import parse_sync
from rag.settings import ParseLimits
from rag.types import Document, ParsedDocument, Scope
from tests.fakes import documents
from tests.rag.ingest.test_tables import balance_sheet_pdf

BM25 = Bm25Encoder()


def _document(parsed: ParsedDocument, name: str) -> Document:
    return Document(
        id="0b6f7c1e-0000-4000-8000-000000000001",
        scope=Scope("T1", "C1"),
        file_name=name,
        content_hash="x",
        kind="pdf",
        page_count=len(parsed.pages),
        figure_count=parsed.figure_count,
        created_at=datetime.now(UTC),
    )


async def _points(
    data: bytes, name: str, minilm_dir: Path, tiny_clip_dir: Path, *, token_vectors: bool
) -> tuple[list[IndexPoint], bool]:
    """The points of ``data``, and whether the text model read each of its texts once."""
    parsed = parse_sync(data, name, ParseLimits())
    texts, _ = embedding_inputs(name, parsed)
    text = TextEmbedder.load(str(minilm_dir))
    before = text.texts_embedded
    points = await build_points(
        _document(parsed, name),
        parsed,
        [None] * sum(1 + len(page.figures) for page in parsed.pages),
        clip=ClipEmbedder.load(str(tiny_clip_dir)),
        text=text,
        bm25=BM25,
        token_vectors=token_vectors,
    )
    return points, text.texts_embedded - before == len(texts)


def _terms(words: str) -> set[int]:
    return {term_id(term) for term in BM25.tokenize(words)}


async def test_a_table_passage_has_its_title_and_header_in_its_head_field(
    minilm_dir: Path, tiny_clip_dir: Path
) -> None:
    points, _ = await _points(
        balance_sheet_pdf(), "sheet.pdf", minilm_dir, tiny_clip_dir, token_vectors=False
    )
    tables = [p for p in points if p.payload.kind == "chunk" and "| ---" in p.payload.text]

    assert len(tables) == 2
    for table in tables:
        assert table.bm25_head is not None
        head = set(table.bm25_head.indices)
        # The document's name, the table's title and its header row; not its cells.
        assert _terms("sheet Consolidated Balance Sheets 2023 2022") <= head
        assert not _terms("Goodwill Restructuring 1,234.5") & head
        assert table.bm25 is not None and _terms("Consolidated") <= set(table.bm25.indices)


@pytest.mark.parametrize("token_vectors", [True, False])
async def test_passages_and_pages_carry_token_vectors_from_the_one_embedding_pass(
    minilm_dir: Path, tiny_clip_dir: Path, token_vectors: bool
) -> None:
    points, once = await _points(
        documents.pdf_with_figure(),
        "growth.pdf",
        minilm_dir,
        tiny_clip_dir,
        token_vectors=token_vectors,
    )
    with_tokens = {p.payload.kind for p in points if p.tokens is not None}

    assert {p.payload.kind for p in points} == {"chunk", "page", "figure", "document"}
    assert with_tokens == ({"chunk", "page"} if token_vectors else set())
    # Each distinct indexed text went through the model once, tokens or not.
    assert once
    for point in points:
        if point.tokens is not None:
            assert point.tokens.shape[1] == 384 and point.tokens.shape[0] > 3


@pytest.mark.parametrize("amx", [False, True])
async def test_the_two_models_run_in_turn_unless_the_cpu_has_amx(
    monkeypatch: pytest.MonkeyPatch, amx: bool
) -> None:
    # Without AMX the two models' thread teams fight for the cores (15% more CPU side by
    # side on an AVX-512 AMD); with it, side by side is faster. See _both.
    monkeypatch.setattr(ingestor, "fast_bfloat16", lambda: amx)
    events: list[str] = []

    async def model(name: str) -> str:
        events.append(f"{name} starts")
        await asyncio.sleep(0.01)
        events.append(f"{name} ends")
        return name

    assert await ingestor._both(model("text"), model("clip")) == ("text", "clip")
    if amx:
        assert events[:2] == ["text starts", "clip starts"]
    else:
        assert events == ["text starts", "text ends", "clip starts", "clip ends"]


async def test_a_failing_text_model_leaves_clips_work_unstarted(
    monkeypatch: pytest.MonkeyPatch, recwarn: pytest.WarningsRecorder
) -> None:
    monkeypatch.setattr(ingestor, "fast_bfloat16", lambda: False)
    started: list[str] = []

    async def text() -> None:
        raise RuntimeError("model gone")

    async def clip() -> None:
        started.append("clip")

    with pytest.raises(RuntimeError, match="model gone"):
        await ingestor._both(text(), clip())
    gc.collect()
    assert started == []
    assert not [w for w in recwarn if "never awaited" in str(w.message)]


async def test_a_file_holds_the_models_lock_only_while_the_models_run(
    monkeypatch: pytest.MonkeyPatch, minilm_dir: Path, tiny_clip_dir: Path
) -> None:
    # In a batch, files take turns at the models; laying a file out and its BM25 run
    # outside its turn, beside the next file's model work (see Commits).
    models = asyncio.Lock()
    seen: dict[str, bool] = {}
    layout, assemble, embed = ingestor._Work.of, ingestor._assemble, ingestor._both

    def laid_out(*args: Any) -> Any:
        seen["layout"] = models.locked()
        return layout(*args)

    def assembled(*args: Any) -> Any:
        seen["bm25"] = models.locked()
        return assemble(*args)

    async def embedded(*args: Any) -> Any:
        seen["models"] = models.locked()
        return await embed(*args)

    monkeypatch.setattr(ingestor._Work, "of", laid_out)
    monkeypatch.setattr(ingestor, "_assemble", assembled)
    monkeypatch.setattr(ingestor, "_both", embedded)
    parsed = parse_sync(documents.text_pdf(["Revenue grew on new orders."]), "a.pdf", ParseLimits())
    points = await build_points(
        _document(parsed, "a.pdf"),
        parsed,
        [None] * sum(1 + len(page.figures) for page in parsed.pages),
        clip=ClipEmbedder.load(str(tiny_clip_dir)),
        text=TextEmbedder.load(str(minilm_dir)),
        bm25=BM25,
        models=models,
    )
    assert points
    assert seen == {"layout": False, "models": True, "bm25": False}
