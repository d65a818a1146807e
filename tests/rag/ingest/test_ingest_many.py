"""Ingestor.ingest_many: files in order; parsing, embedding and storing side by side."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from rag._services import Services
from rag.errors import CorruptDocument, FileTooLarge, FolioError
from rag.index import IndexPoint, VectorIndex
from rag.ingest._ingestor import Ingestor, build_points
from rag.ingest._isolate import ChildPool
from rag.ingest._parse import parse_document, parse_sync
from rag.ingest._pipeline import IngestSource, ParseAhead
from rag.settings import ParseLimits
from rag.types import Audience, Document, IngestResult, ParsedDocument, Scope
from tests.fakes import documents
from tests.fakes.services import open_test_services, settings_for
from tests.rag.ingest.test_isolate import process_exists
from tests.rag.ingest.test_parse_pool import oneshot_children

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def services(
    tmp_path_factory: pytest.TempPathFactory, tiny_clip_dir: Path, minilm_dir: Path
) -> AsyncIterator[Services]:
    tmp = tmp_path_factory.mktemp("ingest-many")
    async with open_test_services(settings_for(tmp, tiny_clip_dir, minilm_dir)) as opened:
        yield opened


def source(name: str, data: bytes) -> IngestSource:
    return IngestSource(name, lambda: data)


async def ingest_all(
    services: Services, sources: list[IngestSource], scope: Scope
) -> list[tuple[str, IngestResult | FolioError]]:
    return [
        (done.file_name, result)
        async for done, result in services.ingestor.ingest_many(sources, scope=scope)
    ]


async def test_files_come_back_in_order_and_a_bad_one_does_not_stop_the_rest(
    services: Services,
) -> None:
    first = documents.text_pdf(["Quarterly revenue rose on strong demand for widgets."])
    second = documents.text_pdf(["Operating cash flow funded the share buyback."])
    results = await ingest_all(
        services,
        [
            source("first.pdf", first),
            source("broken.pdf", documents.truncated_pdf(keep=0.05)),
            source("second.pdf", second),
        ],
        Scope("T-order", "C1"),
    )
    assert [name for name, _ in results] == ["first.pdf", "broken.pdf", "second.pdf"]
    assert isinstance(results[0][1], IngestResult) and results[0][1].created
    assert isinstance(results[1][1], CorruptDocument)
    assert isinstance(results[2][1], IngestResult) and results[2][1].created
    stored = await services.catalog.visible(Audience("T-order", "C1"))
    assert sorted(doc.file_name for doc in stored) == ["first.pdf", "second.pdf"]


async def test_the_same_bytes_twice_in_a_row_are_indexed_once(services: Services) -> None:
    # The second copy is parsed while the first is being committed, before the first is
    # recorded; the commit must notice it and add nothing.
    data = documents.text_pdf(["Gross margin widened to forty percent."])
    scope = Scope("T-twice", "C1")
    results = await ingest_all(services, [source("a.pdf", data), source("b.pdf", data)], scope)
    first, second = (result for _, result in results)
    assert isinstance(first, IngestResult) and first.created
    assert isinstance(second, IngestResult) and not second.created
    assert second.document.id == first.document.id
    assert len(await services.catalog.visible(Audience("T-twice", "C1"))) == 1
    # One page: one chunk, one render and the document's own point, stored once.
    assert await services.index.count(team_id="T-twice") == 3


async def test_each_distinct_text_of_a_document_is_embedded_once(services: Services) -> None:
    # Three identical one-block pages: each page's chunk and its render carry the same
    # text, so six points share one text vector (the seventh, the document's own point,
    # reads its name and opening).
    page = "Dividends per share increased for the twelfth consecutive year."
    before = services.text.texts_embedded
    results = await ingest_all(
        services,
        [source("same.pdf", documents.text_pdf([page, page, page]))],
        Scope("T-once", "C1"),
    )
    result = results[0][1]
    assert isinstance(result, IngestResult) and result.created
    assert await services.index.count(document_id=result.document.id) == 7
    assert services.text.texts_embedded - before == 2


class RecordingEmbedder:
    """Embeds in-process as the Ingestor would, and says when each document starts."""

    def __init__(self, services: Services, events: list[tuple[str, str]]) -> None:
        self._services = services
        self._events = events
        self.started: dict[str, asyncio.Event] = defaultdict(asyncio.Event)

    async def points(
        self, document: Document, parsed: ParsedDocument, captions: list[str | None]
    ) -> list[IndexPoint]:
        self._events.append(("embed", document.file_name))
        self.started[document.file_name].set()
        s = self._services
        return await build_points(document, parsed, captions, clip=s.clip, text=s.text, bm25=s.bm25)


class HeldIndex:
    """The services' index, whose upsert of ``held`` waits until ``release`` is set."""

    def __init__(self, index: VectorIndex, held: str, events: list[tuple[str, str]]) -> None:
        self._index = index
        self._held = held
        self._events = events
        self.release = asyncio.Event()

    async def upsert(self, points: Sequence[IndexPoint]) -> None:
        name = points[0].payload.file_name
        self._events.append(("store", name))
        if name == self._held:
            # Only a pipeline that embeds the next file meanwhile ever sets it; the bound
            # turns a serial ingest into a failure instead of a hang.
            await asyncio.wait_for(self.release.wait(), 120)
        await self._index.upsert(points)
        self._events.append(("stored", name))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._index, name)


def pipeline_ingestor(services: Services, index: Any, embedder: Any) -> Ingestor:
    return Ingestor(
        catalog=services.catalog,
        index=index,
        clip=services.clip,
        text=services.text,
        bm25=services.bm25,
        limits=services.settings.parse,
        embedder=embedder,
    )


async def test_a_file_is_stored_while_the_next_one_embeds(services: Services) -> None:
    events: list[tuple[str, str]] = []
    embedder = RecordingEmbedder(services, events)
    index = HeldIndex(services.index, "first.pdf", events)
    ingestor = pipeline_ingestor(services, index, embedder)

    async def release_when_second_embeds() -> None:
        await embedder.started["second.pdf"].wait()
        index.release.set()

    releaser = asyncio.create_task(release_when_second_embeds())
    sources = [
        source("first.pdf", documents.text_pdf(["Net sales grew in every region."])),
        source("second.pdf", documents.text_pdf(["Inventories fell as supply eased."])),
    ]
    results = [
        (done.file_name, result)
        async for done, result in ingestor.ingest_many(sources, scope=Scope("T-overlap", "C1"))
    ]
    await releaser
    assert [name for name, _ in results] == ["first.pdf", "second.pdf"]
    assert all(isinstance(r, IngestResult) and r.created for _, r in results)
    # The second file's embedding began before the first file's store ended (the store is
    # held until it does; which of the two starts first is a race).
    assert events.index(("embed", "first.pdf")) < events.index(("embed", "second.pdf"))
    assert events.index(("embed", "second.pdf")) < events.index(("stored", "first.pdf"))


async def test_the_reader_stays_a_few_files_ahead_of_the_embedders(
    services: Services,
) -> None:
    # While the first file embeds, the reader parses ahead but stops after a few files:
    # a thousand-file folder is not read into memory. The files after the first fail at
    # once when read, so an unbounded reader would have read all of them by now.
    events: list[tuple[str, str]] = []
    embedder = RecordingEmbedder(services, events)
    index = HeldIndex(services.index, "first.pdf", events)
    ingestor = pipeline_ingestor(services, index, embedder)
    read: list[str] = []

    def failing(name: str) -> IngestSource:
        def read_it() -> bytes:
            read.append(name)
            raise FileTooLarge(f"{name} is too large.")

        return IngestSource(name, read_it)

    names = [f"later-{i}.pdf" for i in range(20)]
    sources = [source("first.pdf", documents.text_pdf(["Capital spending doubled."]))]
    sources += [failing(name) for name in names]
    results = ingestor.ingest_many(sources, scope=Scope("T-bounded", "C1"))
    first = asyncio.create_task(anext(results))
    await embedder.started["first.pdf"].wait()
    for _ in range(200):  # plenty of turns for the reader to run ahead if it could
        await asyncio.sleep(0)
    assert 1 <= len(read) <= 4
    index.release.set()
    done, result = await first
    assert done.file_name == "first.pdf" and isinstance(result, IngestResult)
    rest = [(d.file_name, r) async for d, r in results]
    assert [name for name, _ in rest] == names
    assert all(isinstance(r, FileTooLarge) for _, r in rest)
    assert read == names


async def test_an_unexpected_error_reading_the_next_file_comes_after_the_current_one(
    services: Services,
) -> None:
    # A bug (not a FolioError) while reading file 2 stops the batch, but file 1, already
    # embedding, is stored and reported first.
    def broken() -> bytes:
        raise RuntimeError("disk on fire")

    sources = [
        source("kept.pdf", documents.text_pdf(["Free cash flow was a record."])),
        IngestSource("broken.pdf", broken),
        source("never.pdf", documents.text_pdf(["This file is never read."])),
    ]
    seen: list[str] = []
    with pytest.raises(RuntimeError, match="disk on fire"):
        async for done, result in services.ingestor.ingest_many(
            sources, scope=Scope("T-bug", "C1")
        ):
            assert isinstance(result, IngestResult) and result.created
            seen.append(done.file_name)
    assert seen == ["kept.pdf"]
    stored = await services.catalog.visible(Audience("T-bug", "C1"))
    assert [doc.file_name for doc in stored] == ["kept.pdf"]


class CountingParse:
    """parse_document, counting the files it parses (the parse child really runs)."""

    def __init__(self) -> None:
        self.parsed: list[str] = []

    async def __call__(self, data: bytes, file_name: str, limits: ParseLimits) -> ParsedDocument:
        self.parsed.append(file_name)
        return await parse_document(data, file_name, limits, nice=0)


async def test_files_parsed_before_the_models_loaded_are_not_parsed_again(
    services: Services,
) -> None:
    # `folio ingest` parses its first files while it loads the models; ingest_many takes
    # those parses instead of parsing again, and the documents come out the same.
    reads: list[str] = []

    def counted(name: str, text: str) -> IngestSource:
        data = documents.text_pdf([text])

        def read_it() -> bytes:
            reads.append(name)
            return data

        return IngestSource(name, read_it)

    sources = [
        counted("early-1.pdf", "Backlog grew to a record on new orders."),
        counted("early-2.pdf", "Free cash flow paid down the term loan."),
        counted("late.pdf", "The board declared a special dividend."),
    ]
    early = CountingParse()
    ahead = ParseAhead(early, services.ingestor.limits)
    ahead.start(sources[:2])
    scope = Scope("T-ahead", "C1")
    results = [r async for _, r in services.ingestor.ingest_many(sources, scope=scope, ahead=ahead)]
    await ahead.close()
    assert early.parsed == ["early-1.pdf", "early-2.pdf"]
    assert sorted(reads) == ["early-1.pdf", "early-2.pdf", "late.pdf"]  # each read once
    assert all(isinstance(r, IngestResult) and r.created for r in results)
    found = await services.retriever.search(
        "record backlog orders", audience=Audience("T-ahead", "C1"), limit=3
    )
    assert found[0].file_name == "early-1.pdf"
    stored = await services.catalog.visible(Audience("T-ahead", "C1"))
    assert sorted(doc.file_name for doc in stored) == ["early-1.pdf", "early-2.pdf", "late.pdf"]


async def test_a_parse_made_with_other_limits_is_dropped_and_the_file_parsed_again(
    services: Services,
) -> None:
    # A guess of the limits that the loaded models contradict: the early parse (which
    # would refuse this two-page file) is not used; the file is parsed with the
    # ingestor's own limits.
    other = dataclasses.replace(services.ingestor.limits, max_pages=1)
    ahead = ParseAhead(CountingParse(), other)
    sources = [source("guessed.pdf", documents.text_pdf(["Page one.", "Page two."]))]
    ahead.start(sources)
    scope = Scope("T-guess", "C1")
    results = [r async for _, r in services.ingestor.ingest_many(sources, scope=scope, ahead=ahead)]
    await ahead.close()
    result = results[0]
    assert isinstance(result, IngestResult) and result.created
    assert result.document.page_count == 2


async def test_closing_stops_the_parses_nobody_took() -> None:
    started = asyncio.Event()

    async def slow(data: bytes, file_name: str, limits: ParseLimits) -> ParsedDocument:
        started.set()
        await asyncio.sleep(3600)
        raise AssertionError("never finishes")

    ahead = ParseAhead(slow, ParseLimits())
    ahead.start([source("never.pdf", b"%PDF-")])
    await asyncio.wait_for(started.wait(), 10)
    await asyncio.wait_for(ahead.close(), 10)
    assert ahead.take(source("never.pdf", b""), ParseLimits()) is None


async def test_a_batch_parses_every_file_in_one_child_and_stops_it_at_the_end(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    oneshot = oneshot_children(monkeypatch)
    started: list[int] = []
    real_start = ChildPool._start

    async def counting_start(self: ChildPool) -> Any:
        child = await real_start(self)
        started.append(child.pid)
        return child

    monkeypatch.setattr(ChildPool, "_start", counting_start)
    texts = ["Gross margin widened.", "Debt was refinanced.", "Headcount was flat."]
    sources = [source(f"pooled-{n}.pdf", documents.text_pdf([t])) for n, t in enumerate(texts)]
    results = await ingest_all(services, sources, Scope("T-pooled", "C1"))
    assert all(isinstance(r, IngestResult) and r.created for _, r in results)
    assert oneshot == []
    assert len(started) == 1
    assert not process_exists(started[0])


async def test_stopping_leaves_the_files_not_begun_to_the_ingest() -> None:
    # `folio ingest` stops the early parses once the models are loaded: the file being
    # parsed then finishes, the others are parsed by ingest_many as usual.
    release, one_begun = asyncio.Event(), asyncio.Event()
    begun: list[str] = []

    async def held(data: bytes, file_name: str, limits: ParseLimits) -> ParsedDocument:
        begun.append(file_name)
        one_begun.set()
        await release.wait()
        return parse_sync(data, file_name, limits)

    limits = ParseLimits()
    sources = [source(f"{n}.pdf", documents.text_pdf([f"Page {n}."])) for n in ("a", "b", "c")]
    ahead = ParseAhead(held, limits)
    ahead.start(sources)
    await asyncio.wait_for(one_begun.wait(), 10)
    ahead.stop()
    release.set()
    first = ahead.take(sources[0], limits)
    assert first is not None
    _, parsed = await asyncio.wait_for(first, 10)
    assert parsed.pages[0].text.strip() == "Page a."
    assert ahead.take(sources[1], limits) is None
    assert ahead.take(sources[2], limits) is None
    await ahead.close()
    assert begun == ["a.pdf"]
