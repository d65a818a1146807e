"""Ingestor through open_services: real PyMuPDF, tiny CLIP, MiniLM, Qdrant Edge and SQLite.

One set of services is shared by the module (opening it loads the models); each test works in
its own channel, so the tests do not see each other's documents.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from rag._library import Library
from rag._services import Services
from rag.db import Catalog, create_engine, session_factory, upgrade_database
from rag.errors import (
    CorruptDocument,
    DocumentError,
    DocumentNotFound,
    EmptyDocument,
    EncryptedDocument,
    FileTooLarge,
    PageTooLarge,
    StoreError,
)
from rag.ingest._ingestor import Ingestor
from rag.settings import OldVersions
from rag.types import Audience, IngestResult, Scope
from tests.fakes import documents
from tests.fakes.database import postgres_base_url, throwaway_postgres_database
from tests.fakes.services import ingest, open_test_services, settings_for, totals

pytestmark = pytest.mark.asyncio(loop_scope="module")

TEAM = "T1"
MAX_FILE_MB = 4


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def services(
    tmp_path_factory: pytest.TempPathFactory, tiny_clip_dir: Path, minilm_dir: Path
) -> AsyncIterator[Services]:
    """Services on a fresh data dir, with a 1 MB file cap."""
    tmp = tmp_path_factory.mktemp("ingest")
    settings = settings_for(tmp, tiny_clip_dir, minilm_dir, FOLIO_MAX_FILE_MB=str(MAX_FILE_MB))
    async with open_test_services(settings) as opened:
        yield opened


async def kinds_of(services: Services, result: IngestResult) -> list[str]:
    """The kind of every point of the document, found through the real retriever.

    Every visual point has a CLIP vector and every chunk a text vector, so a text plus
    picture query over the document's own channel returns all of a small document's points.
    """
    scope = result.document.scope
    pages = await services.retriever.search(
        "store growth region chart",
        audience=Audience(scope.team_id, scope.channel_id),
        images=[documents.picture()],
        limit=50,
    )
    return [
        hit.kind for page in pages if page.document_id == result.document.id for hit in page.hits
    ]


async def test_a_real_pdf_becomes_a_document_with_pages_and_chunk_page_and_figure_points(
    services: Services,
) -> None:
    data = documents.pdf_with_figure()
    result = await ingest(services, data, "growth.pdf", Scope(TEAM, "C1"))
    doc = result.document
    assert result.created
    assert (doc.kind, doc.page_count, doc.file_name) == ("pdf", 1, "growth.pdf")
    assert doc.figure_count >= 2  # the embedded picture and the drawn chart
    assert await services.catalog.get(doc.id) == doc
    pages = await services.catalog.pages(doc.id)
    assert [p.number for p in pages] == [1]
    assert "Store growth by region" in pages[0].text
    assert await services.catalog.data(doc.id) == data
    count = await services.index.count(document_id=doc.id)
    kinds = await kinds_of(services, result)
    # Page searches return every point but the document's own one (the document stage's).
    assert count > 0 and len(kinds) == count - 1
    assert kinds.count("page") == 1
    assert kinds.count("figure") == doc.figure_count
    assert kinds.count("chunk") >= 1
    assert "document" not in kinds


async def test_ingesting_the_same_bytes_twice_adds_nothing(services: Services) -> None:
    data = documents.text_pdf(["Twice ingested memo about the harbour budget."])
    first = await ingest(services, data, "memo.pdf", Scope(TEAM, "C2"))
    before = await totals(services)
    again = await ingest(services, data, "memo-copy.pdf", Scope(TEAM, "C2"))
    assert first.created and not again.created
    assert again.document == first.document
    assert await totals(services) == before
    visible = await services.catalog.visible(Audience(TEAM, "C2"))
    assert [d.id for d in visible if d.scope.channel_id == "C2"] == [first.document.id]


async def test_the_same_bytes_in_another_channel_is_a_separate_document(
    services: Services,
) -> None:
    data = documents.text_pdf(["A memo shared in two channels about lighthouse repairs."])
    here = await ingest(services, data, "memo.pdf", Scope(TEAM, "C3"))
    there = await ingest(services, data, "memo.pdf", Scope(TEAM, "C4"))
    assert here.created and there.created
    assert here.document.id != there.document.id
    here_points = await services.index.count(document_id=here.document.id)
    assert here_points > 0
    assert await services.index.count(document_id=there.document.id) == here_points


async def test_forget_removes_every_point_and_row_of_the_document(services: Services) -> None:
    keep = await ingest(services, documents.text_pdf(["Keep me."]), "keep.pdf", Scope(TEAM, "C5"))
    gone = await ingest(
        services, documents.text_pdf(["Forget me.", "Page two."]), "gone.pdf", Scope(TEAM, "C5")
    )
    kept_points = await services.index.count(document_id=keep.document.id)
    points_before, documents_before, pages_before = await totals(services)
    gone_points = await services.index.count(document_id=gone.document.id)

    await services.ingestor.forget(gone.document.id)

    assert await services.index.count(document_id=gone.document.id) == 0
    assert await services.catalog.get(gone.document.id) is None
    assert await services.catalog.pages(gone.document.id) == []
    with pytest.raises(StoreError):
        await services.catalog.data(gone.document.id)
    assert await totals(services) == (
        points_before - gone_points,
        documents_before - 1,
        pages_before - 2,
    )
    assert await services.index.count(document_id=keep.document.id) == kept_points
    with pytest.raises(DocumentNotFound):
        await services.ingestor.forget(gone.document.id)


def _oversized() -> bytes:
    # A valid PDF padded past the cap: the size check, not the parser, must refuse it.
    return documents.text_pdf(["Padded."]) + b"\n" * (MAX_FILE_MB * 1024 * 1024 + 1)


BAD_FILES = [
    ("locked.pdf", documents.encrypted_pdf, EncryptedDocument),
    ("cut.pdf", documents.truncated_pdf, CorruptDocument),
    ("nothing.pdf", documents.zero_page_pdf, EmptyDocument),
    ("q3.pdf", documents.html_renamed_pdf, CorruptDocument),
    ("poster.png", documents.huge_png, PageTooLarge),
    ("banner.pdf", documents.huge_mediabox_pdf, PageTooLarge),
    ("huge.pdf", _oversized, FileTooLarge),
]


@pytest.mark.parametrize(
    ("name", "build", "error"), BAD_FILES, ids=[name for name, *_ in BAD_FILES]
)
async def test_a_bad_file_raises_its_error_and_leaves_index_and_database_unchanged(
    services: Services, name: str, build: Callable[[], bytes], error: type[DocumentError]
) -> None:
    data = build()
    before = await totals(services)
    with pytest.raises(DocumentError) as caught:
        await ingest(services, data, name, Scope(TEAM, "C6"))
    assert type(caught.value) is error
    assert name in caught.value.user_message
    assert caught.value.user_message != DocumentError.default_message
    assert await totals(services) == before
    assert all(d.file_name != name for d in await services.catalog.visible(Audience(TEAM, "C6")))


async def test_a_scanned_page_yields_a_visual_point_found_by_its_own_image(
    services: Services,
) -> None:
    scope = Scope(TEAM, "C7", channel_private=True)
    await ingest(services, documents.text_pdf(["Minutes of the board meeting."]), "m.pdf", scope)
    scan = await ingest(services, documents.scanned_pdf(), "scan.pdf", scope)
    assert scan.document.page_count == 1
    assert "chunk" not in await kinds_of(services, scan)  # no text layer, so no chunks
    assert "page" in await kinds_of(services, scan)

    pages = await services.retriever.search(
        "", audience=Audience(TEAM, "C7"), images=[documents.picture((850, 1100))]
    )
    assert (pages[0].document_id, pages[0].page_number) == (scan.document.id, 1)


async def test_a_png_uploaded_as_a_document_is_one_page_with_a_visual_point(
    services: Services,
) -> None:
    result = await ingest(services, documents.picture(), "whiteboard.png", Scope(TEAM, "C8"))
    doc = result.document
    assert (doc.kind, doc.page_count) == ("image", 1)
    assert [p.number for p in await services.catalog.pages(doc.id)] == [1]
    assert "page" in await kinds_of(services, result)


async def test_a_crash_while_recording_leaves_no_points_and_a_retry_resumes(
    tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path
) -> None:
    settings = settings_for(tmp_path, tiny_clip_dir, minilm_dir)
    data = documents.text_pdf(["Recorded after a crash.", "Second page."])
    scope = Scope(TEAM, "C9")
    async with open_test_services(settings) as services:
        # A real database failure half-way through Catalog.add: the documents row is
        # written, then the pages insert aborts and the transaction rolls back.
        async with services.engine.begin() as connection:
            await connection.execute(
                text(
                    "CREATE TRIGGER fail_pages BEFORE INSERT ON pages "
                    "BEGIN SELECT RAISE(ABORT, 'simulated disk failure'); END"
                )
            )
        with pytest.raises(StoreError):
            await ingest(services, data, "crash.pdf", scope)
        assert await totals(services) == (0, 0, 0)

        async with services.engine.begin() as connection:
            await connection.execute(text("DROP TRIGGER fail_pages"))
        resumed = await ingest(services, data, "crash.pdf", scope)
        assert resumed.created
        assert await services.index.count(document_id=resumed.document.id) > 0
        assert len(await services.catalog.pages(resumed.document.id)) == 2
        assert (await totals(services))[1:] == (1, 2)


def library(services: Services, old_versions: OldVersions) -> Library:
    return Library(
        catalog=services.catalog,
        ingestor=services.ingestor,
        retriever=services.retriever,
        index=services.index,
        old_versions=old_versions,
    )


async def test_a_kept_old_version_loses_its_points_stays_out_of_reindex_and_can_come_back(
    services: Services,
) -> None:
    keep = library(services, "keep")
    scope = Scope(TEAM, "C20")
    v1 = documents.text_pdf(["The harbour budget is four million."])
    v2 = documents.text_pdf(["The harbour budget is six million."])
    first = await keep.index(v1, file_name="budget.pdf", scope=scope)
    second = await keep.index(v2, file_name="Budget.pdf", scope=scope)
    old = await services.catalog.get(first.document.id)
    assert old is not None and old.superseded and second.replaced == 1
    assert "replaces the earlier version" in second.summary
    assert await services.index.count(document_id=old.id) == 0
    assert await services.ingestor.reindex(old) == 0
    assert await services.index.count(document_id=old.id) == 0

    back = await keep.index(v1, file_name="budget.pdf", scope=scope)

    assert back.created and back.document.id == old.id and not back.document.superseded
    newer = await services.catalog.get(second.document.id)
    assert newer is not None and newer.superseded
    assert await services.index.count(document_id=old.id) > 0
    assert await services.index.count(document_id=second.document.id) == 0


async def test_a_dropped_old_version_is_gone_and_other_names_and_channels_stay(
    services: Services,
) -> None:
    drop = library(services, "drop")
    here, there = Scope(TEAM, "C21"), Scope(TEAM, "C22")
    old = await drop.index(
        documents.text_pdf(["Ferry times, spring."]), file_name="f.pdf", scope=here
    )
    other = await drop.index(documents.text_pdf(["Ferry fares."]), file_name="g.pdf", scope=here)
    elsewhere = await drop.index(
        documents.text_pdf(["Ferry times."]), file_name="f.pdf", scope=there
    )

    new = await drop.index(
        documents.text_pdf(["Ferry times, summer."]), file_name="f.pdf", scope=here
    )

    assert new.replaced == 1
    assert await services.catalog.get(old.document.id) is None
    assert await services.index.count(document_id=old.document.id) == 0
    for kept in (other, elsewhere, new):
        assert await services.catalog.get(kept.document.id) is not None


async def test_overlapping_ingests_of_the_same_bytes_end_with_one_whole_document(
    tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path
) -> None:
    base = postgres_base_url()
    if base is None:
        pytest.skip("FOLIO_TEST_DATABASE_URL is not set")
    data = documents.text_pdf(["Shared twice, indexed once.", "Every point stays."])
    scope = Scope(TEAM, "C-OVERLAP")
    with throwaway_postgres_database(base) as url:
        await asyncio.to_thread(upgrade_database, url)
        settings = settings_for(tmp_path, tiny_clip_dir, minilm_dir, DATABASE_URL=url)
        async with open_test_services(settings) as services:
            alone = await ingest(services, data, "alone.pdf", Scope(TEAM, "C-ALONE"))
            expected = await services.index.count(document_id=alone.document.id)
            # A second worker: its own catalog and connection pool, the same index and models.
            engine = create_engine(url)
            other = Ingestor(
                catalog=Catalog(sessions=session_factory(engine)),
                index=services.index,
                clip=services.clip,
                text=services.text,
                bm25=services.bm25,
                limits=services.settings.parse,
            )
            try:
                # The database stalls writes to documents until both ingests are waiting in
                # it: each has embedded the file and is storing it at the same moment.
                async with engine.connect() as stall:
                    await stall.execute(text("LOCK TABLE documents IN EXCLUSIVE MODE"))
                    both = asyncio.gather(
                        ingest(services, data, "a.pdf", scope),
                        other.ingest(data, file_name="b.pdf", scope=scope),
                    )
                    await _until_waiting(stall, 2)
                    await stall.rollback()
                results = await asyncio.wait_for(both, timeout=60)
            finally:
                await engine.dispose()
            assert sorted(r.created for r in results) == [False, True]
            [document_id] = {r.document.id for r in results}
            assert await services.index.count(document_id=document_id) == expected


async def _until_waiting(connection: AsyncConnection, count: int) -> None:
    """Wait until ``count`` other sessions of this database are waiting on a lock."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
    )
    async with asyncio.timeout(60):
        # pg_stat_activity is a snapshot per transaction: drop it before every look.
        while (await connection.execute(query)).scalar_one() < count:  # noqa: ASYNC110
            await connection.execute(text("SELECT pg_stat_clear_snapshot()"))
            await asyncio.sleep(0.05)  # polling the server: nothing here could set an Event
