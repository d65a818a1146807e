"""Ingestor.ingest_many: files in order, each parsed while the previous one is embedded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from rag._services import Services
from rag.errors import CorruptDocument, FolioError
from rag.ingest._ingestor import IngestSource
from rag.types import Audience, IngestResult, Scope
from tests.fakes import documents
from tests.fakes.services import open_test_services, settings_for

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
