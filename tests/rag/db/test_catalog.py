"""Catalog: documents, pages and bytes, scoped by team and channel."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rag.db import Catalog, JobQueue, JobSpec, create_engine, session_factory
from rag.errors import DuplicateDocument, StoreError
from rag.types import Audience, Document, PageInfo, Scope

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
PUBLIC = Scope("T1", "CPUBLIC", channel_private=False)
PRIVATE = Scope("T1", "CPRIVATE", channel_private=True)
OTHER_TEAM = Scope("T2", "CPUBLIC", channel_private=False)


def make_document(
    scope: Scope = PUBLIC,
    *,
    name: str = "report.pdf",
    content_hash: str | None = None,
    minutes: int = 0,
    slack_file_id: str | None = None,
) -> Document:
    return Document(
        id=str(uuid.uuid4()),
        scope=scope,
        file_name=name,
        content_hash=content_hash or uuid.uuid4().hex,
        kind="pdf",
        page_count=2,
        figure_count=1,
        created_at=T0 + timedelta(minutes=minutes),
        slack_file_id=slack_file_id,
        uploader_id="U1",
    )


PAGES = (
    PageInfo(number=1, width=612.0, height=792.0, text="Revenue grew 12%.", figure_count=1),
    PageInfo(number=2, width=612.0, height=792.0, text="Outlook.", figure_count=0),
)


@pytest.fixture
def catalog(sessions: async_sessionmaker[AsyncSession]) -> Catalog:
    return Catalog(sessions=sessions)


async def add(catalog: Catalog, document: Document, data: bytes = b"%PDF-1.7 bytes") -> Document:
    await catalog.add(document, PAGES, data, size_bytes=len(data))
    return document


async def test_added_document_reads_back_equal_with_utc_time(catalog: Catalog) -> None:
    document = await add(catalog, make_document(slack_file_id="F1"))

    stored = await catalog.get(document.id)

    assert stored == document
    assert stored is not None and stored.created_at.tzinfo is not None
    assert stored.created_at.utcoffset() == timedelta(0)


async def test_non_utc_times_are_stored_as_the_same_instant(catalog: Catalog) -> None:
    new_york = T0.astimezone(ZoneInfo("America/New_York"))
    document = await add(catalog, replace(make_document(), created_at=new_york))

    stored = await catalog.get(document.id)

    assert stored is not None and stored.created_at == T0
    assert stored.created_at.utcoffset() == timedelta(0)


async def test_file_bytes_and_pages_are_kept(catalog: Catalog) -> None:
    document = await add(catalog, make_document(), data=b"\x00\x01binary\xff")

    assert await catalog.data(document.id) == b"\x00\x01binary\xff"
    assert await catalog.pages(document.id) == list(PAGES)


async def test_page_text_with_nul_characters_is_stored_without_them(catalog: Catalog) -> None:
    document = make_document()
    page = PageInfo(number=1, width=10.0, height=10.0, text="a\x00b")

    await catalog.add(document, [page], b"x", size_bytes=1)

    [stored] = await catalog.pages(document.id)
    assert stored.text == "ab"


async def test_find_by_hash_is_scoped_to_the_channel(catalog: Catalog) -> None:
    document = await add(catalog, make_document(content_hash="h1"))

    assert await catalog.find_by_hash(PUBLIC, "h1") == document
    assert await catalog.find_by_hash(PRIVATE, "h1") is None
    assert await catalog.find_by_hash(PUBLIC, "h2") is None


async def test_same_bytes_in_the_same_channel_raise_duplicate_document(catalog: Catalog) -> None:
    first = await add(catalog, make_document(content_hash="h1"))

    with pytest.raises(DuplicateDocument):
        await add(catalog, make_document(content_hash="h1", name="copy.pdf"))

    assert await catalog.find_by_hash(PUBLIC, "h1") == first
    assert await catalog.counts() == (1, 2)


async def test_same_bytes_in_another_channel_are_a_second_document(catalog: Catalog) -> None:
    await add(catalog, make_document(PUBLIC, content_hash="h1"))
    await add(catalog, make_document(PRIVATE, content_hash="h1"))

    assert await catalog.counts("T1") == (2, 4)


async def test_a_failed_add_leaves_nothing_behind(catalog: Catalog) -> None:
    document = make_document()
    repeated_page = [PAGES[0], PAGES[0]]

    with pytest.raises(StoreError):
        await catalog.add(document, repeated_page, b"x", size_bytes=1)

    assert await catalog.get(document.id) is None
    assert await catalog.counts() == (0, 0)


async def test_missing_file_bytes_raise_store_error(catalog: Catalog) -> None:
    with pytest.raises(StoreError):
        await catalog.data("no-such-document")


async def test_visible_follows_the_retrieval_permission_rule(catalog: Catalog) -> None:
    public = await add(catalog, make_document(PUBLIC, minutes=1))
    private = await add(catalog, make_document(PRIVATE, minutes=2))
    await add(catalog, make_document(OTHER_TEAM, minutes=3))

    in_private = await catalog.visible(Audience("T1", "CPRIVATE"))
    elsewhere = await catalog.visible(Audience("T1", "CRANDOM"))

    assert in_private == [private, public]  # newest first
    assert elsewhere == [public]
    assert await catalog.visible(Audience("T3", "CPUBLIC")) == []


async def test_count_answering_counts_what_may_answer_there_and_not_superseded(
    catalog: Catalog,
) -> None:
    await add(catalog, make_document(PUBLIC, minutes=1))
    old = await add(catalog, make_document(PUBLIC, minutes=2))
    await add(catalog, make_document(PRIVATE, minutes=3))
    await add(catalog, make_document(OTHER_TEAM, minutes=4))
    await catalog.supersede(old.id)

    assert await catalog.count_answering(Audience("T1", "CPRIVATE")) == 2
    assert await catalog.count_answering(Audience("T1", "CRANDOM")) == 1
    assert await catalog.count_answering(Audience("T3", "CPUBLIC")) == 0


async def test_find_visible_by_id_prefix_or_file_name(catalog: Catalog) -> None:
    document = await add(catalog, make_document(name="Annual Report.PDF"))
    here = Audience("T1", "CRANDOM")

    assert await catalog.find_visible(here, document.id) == document
    assert await catalog.find_visible(here, document.id[:6]) == document
    assert await catalog.find_visible(here, f"  {document.id[:8].upper()} ") == document
    assert await catalog.find_visible(here, "annual report.pdf") == document
    assert await catalog.find_visible(here, document.id[:5]) is None
    assert await catalog.find_visible(here, "annual") is None
    assert await catalog.find_visible(here, "") is None


async def test_find_visible_treats_like_wildcards_literally(catalog: Catalog) -> None:
    await add(catalog, make_document())

    assert await catalog.find_visible(Audience("T1", "C"), "%%%%%%") is None
    assert await catalog.find_visible(Audience("T1", "C"), "______") is None


async def test_find_visible_prefers_the_most_recent_of_several_matches(catalog: Catalog) -> None:
    await add(catalog, make_document(name="q3.pdf", minutes=1))
    newer = await add(catalog, make_document(name="Q3.pdf", minutes=5))

    assert await catalog.find_visible(Audience("T1", "C"), "q3.pdf") == newer


async def test_find_visible_hides_private_documents_from_other_channels(catalog: Catalog) -> None:
    private = await add(catalog, make_document(PRIVATE, name="secret.pdf"))

    assert await catalog.find_visible(Audience("T1", "CRANDOM"), "secret.pdf") is None
    assert await catalog.find_visible(Audience("T1", "CRANDOM"), private.id) is None
    assert await catalog.find_visible(Audience("T2", "CPRIVATE"), private.id) is None
    assert await catalog.find_visible(Audience("T1", "CPRIVATE"), private.id) == private


async def test_by_slack_file_finds_every_channel_copy(catalog: Catalog) -> None:
    first = await add(catalog, make_document(PUBLIC, slack_file_id="F1", minutes=1))
    second = await add(catalog, make_document(PRIVATE, slack_file_id="F1", minutes=2))
    await add(catalog, make_document(OTHER_TEAM, slack_file_id="F1"))

    assert await catalog.by_slack_file("T1", "F1") == [second, first]
    assert await catalog.by_slack_file("T1", "F2") == []


async def test_delete_removes_pages_and_bytes(catalog: Catalog) -> None:
    document = await add(catalog, make_document())

    assert await catalog.delete(document.id) is True

    assert await catalog.get(document.id) is None
    assert await catalog.pages(document.id) == []
    with pytest.raises(StoreError):
        await catalog.data(document.id)
    assert await catalog.delete(document.id) is False


async def test_deleting_a_document_keeps_its_job_without_the_link_or_its_words(
    catalog: Catalog, sessions: async_sessionmaker[AsyncSession]
) -> None:
    queue = JobQueue(sessions=sessions)
    document = await add(catalog, make_document())
    job, _ = await queue.enqueue(JobSpec("T1", "CPUBLIC", False, "report.pdf", "F1"))
    held = await queue.claim("w1")
    assert held is not None
    await queue.succeed(held, document_id=document.id, summary="2 pages")

    await catalog.delete(document.id)

    after = await queue.get(job.id)
    assert after is not None and after.status == "done" and after.document_id is None
    assert after.file_name == "(a forgotten document)" and after.summary is None


async def test_counts_documents_and_pages_per_team(catalog: Catalog) -> None:
    await add(catalog, make_document(PUBLIC))
    await add(catalog, make_document(PRIVATE))
    await add(catalog, make_document(OTHER_TEAM))

    assert await catalog.counts() == (3, 6)
    assert await catalog.counts("T1") == (2, 4)
    assert await catalog.counts("T9") == (0, 0)


async def test_the_lock_of_a_document_has_one_holder_at_a_time_across_engines(
    database_url: str,
) -> None:
    # Two engines stand for two worker processes (each its own connection pool).
    engines = [create_engine(database_url), create_engine(database_url)]
    catalogs = [Catalog(sessions=session_factory(e)) for e in engines]
    document_id, other_id = str(uuid.uuid4()), str(uuid.uuid4())
    holders: list[str] = []
    overlaps: list[int] = []

    async def hold(catalog: Catalog, name: str, document: str) -> None:
        async with catalog.exclusive(document):
            holders.append(name)
            overlaps.append(len(holders))
            await asyncio.sleep(0.05)
            holders.remove(name)

    try:
        await asyncio.gather(*(hold(c, f"w{i}", document_id) for i, c in enumerate(catalogs * 3)))
        # Another document's lock is free while this one's is held.
        async with catalogs[0].exclusive(document_id):
            await asyncio.wait_for(hold(catalogs[1], "other", other_id), timeout=5)
    finally:
        for engine in engines:
            await engine.dispose()

    assert overlaps == [1] * 7
