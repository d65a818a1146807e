"""Generations of the vector index: the models that made each, and the documents each holds."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rag.db import Catalog
from rag.db.generations import Generations
from rag.types import PageInfo, VectorModels
from tests.rag.db.test_catalog import make_document

OLD = VectorModels("clip-a", "aaaa", 32, "minilm", "mmmm", 384)
NEW = VectorModels("clip-b", "bbbb", 32, "minilm", "mmmm", 384)
PAGE = [PageInfo(1, 612, 792, "text")]


async def test_the_first_generation_holds_every_document_already_recorded(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    before = make_document()
    await Catalog(sessions=sessions).add(before, PAGE, b"%PDF", 4)
    registry = Generations(sessions=sessions)

    first = await registry.first(OLD)

    assert (first.status, first.store, first.models) == ("active", "", OLD)
    assert await registry.missing(first.id) == []
    assert await registry.first(NEW) == first  # a second start (or a racer) changes nothing


async def test_documents_join_the_active_generation_and_a_build_switches_in_one_step(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    registry = Generations(sessions=sessions)
    active = await registry.first(OLD)
    added = make_document()
    await Catalog(sessions=sessions, generation=active.id).add(added, PAGE, b"%PDF", 4)
    unrecorded = make_document()  # as if added by something that knows no generation
    await Catalog(sessions=sessions).add(unrecorded, PAGE, b"%PDF", 4)
    assert await registry.missing(active.id) == [unrecorded.id]

    build, stale = await registry.building(NEW)
    assert stale == [] and build.status == "building" and build.store.startswith("g")
    assert (await registry.building(NEW))[0] == build  # resumed, not started again
    assert sorted(await registry.missing(build.id)) == sorted([added.id, unrecorded.id])
    await Catalog(sessions=sessions, generation=build.id).mark_indexed(added.id)
    assert await registry.held(build.id) == 1

    await registry.activate(build.id)

    now = await registry.active()
    assert now is not None and now.id == build.id and now.models == NEW
    assert [g.id for g in await registry.retired()] == [active.id]
    await registry.forget(active.id)
    assert await registry.retired() == []


async def test_a_build_for_models_configured_no_longer_is_discarded(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    registry = Generations(sessions=sessions)
    await registry.first(OLD)
    abandoned, _ = await registry.building(NEW)
    newer = VectorModels("clip-c", "cccc", 32, "minilm", "mmmm", 384)

    build, stale = await registry.building(newer)

    assert [g.id for g in stale] == [abandoned.id] and build.models == newer
