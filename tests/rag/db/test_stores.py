"""EventLog, ChannelSettingsStore and CaptionCache on each backend."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rag.db import CaptionCache, ChannelSettingsStore, EventLog, create_engine, session_factory
from rag.errors import StoreError
from rag.types import ChannelSettings
from tests.fakes.database import FakeClock


async def test_an_event_is_new_only_the_first_time(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    events = EventLog(sessions=sessions)

    assert await events.first_time("Ev1", "T1") is True
    assert await events.first_time("Ev1", "T1") is False
    assert await events.first_time("Ev2", "T1") is True


async def test_racing_processes_see_an_event_as_new_exactly_once(database_url: str) -> None:
    # Two engines stand for two processes: separate pools, separate connections.
    engines = [create_engine(database_url), create_engine(database_url)]
    try:
        logs = [EventLog(sessions=session_factory(engine)) for engine in engines]
        for round_ in range(3):
            results = await asyncio.gather(
                *(logs[i % 2].first_time(f"Ev-race-{round_}", "T1") for i in range(8))
            )
            assert results.count(True) == 1
    finally:
        for engine in engines:
            await engine.dispose()


async def test_prune_forgets_only_old_events(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    events = EventLog(sessions=sessions, clock=clock)
    await events.first_time("old-1", "T1")
    await events.first_time("old-2", "T1")
    clock.advance(3 * 3600)
    await events.first_time("recent", "T1")

    assert await events.prune(timedelta(hours=1)) == 2

    assert await events.first_time("old-1", "T1") is True
    assert await events.first_time("recent", "T1") is False


async def test_channel_settings_default_to_indexing_off_and_followups_on(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    settings = ChannelSettingsStore(sessions=sessions)

    assert await settings.get("T1", "C1") == ChannelSettings("T1", "C1", False, True)


async def test_each_switch_changes_only_itself(sessions: async_sessionmaker[AsyncSession]) -> None:
    settings = ChannelSettingsStore(sessions=sessions)

    await settings.set_followups("T1", "C1", False, "U1")
    await settings.set_indexing("T1", "C1", True, "U2")

    assert await settings.get("T1", "C1") == ChannelSettings("T1", "C1", True, False)
    assert await settings.get("T1", "C2") == ChannelSettings("T1", "C2", False, True)
    await settings.set_autoanswer("T1", "C1", True, "U3")
    assert await settings.get("T1", "C1") == ChannelSettings("T1", "C1", True, False, True)


async def test_indexing_channels_lists_channels_with_indexing_on(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    settings = ChannelSettingsStore(sessions=sessions)
    await settings.set_indexing("T1", "C2", True, "U1")
    await settings.set_indexing("T1", "C1", True, "U1")
    await settings.set_indexing("T1", "C3", True, "U1")
    await settings.set_indexing("T1", "C3", False, "U1")
    await settings.set_followups("T1", "C4", False, "U1")
    await settings.set_indexing("T2", "C9", True, "U1")

    in_t1 = [(s.team_id, s.channel_id) for s in await settings.indexing_channels("T1")]
    everywhere = [(s.team_id, s.channel_id) for s in await settings.indexing_channels()]

    assert in_t1 == [("T1", "C1"), ("T1", "C2")]
    assert everywhere == [("T1", "C1"), ("T1", "C2"), ("T2", "C9")]


async def test_concurrent_switches_on_one_channel_both_land(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    settings = ChannelSettingsStore(sessions=sessions)

    await asyncio.gather(
        settings.set_indexing("T1", "C1", True, "U1"),
        settings.set_followups("T1", "C1", False, "U2"),
    )

    assert await settings.get("T1", "C1") == ChannelSettings("T1", "C1", True, False)


async def test_caption_cache_keeps_one_caption_per_image_and_model(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    cache = CaptionCache(sessions=sessions)
    assert await cache.get("sha-1", "gpt-4o") is None

    await cache.put("sha-1", "gpt-4o", "A bar chart of revenue by quarter.")
    await cache.put("sha-1", "gpt-4o", "A different caption.")
    await cache.put("sha-1", "other-model", "Bars.")

    assert await cache.get("sha-1", "gpt-4o") == "A bar chart of revenue by quarter."
    assert await cache.get("sha-1", "other-model") == "Bars."
    assert await cache.get("sha-2", "gpt-4o") is None


async def test_concurrent_puts_of_one_caption_do_not_fail(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    cache = CaptionCache(sessions=sessions)

    await asyncio.gather(*(cache.put("sha-1", "m", f"caption {i}") for i in range(4)))

    assert (await cache.get("sha-1", "m") or "").startswith("caption ")


async def test_an_unreachable_database_raises_store_error() -> None:
    engine = create_engine("postgresql+asyncpg://folio:secret@127.0.0.1:1/folio")
    try:
        events = EventLog(sessions=session_factory(engine))
        with pytest.raises(StoreError) as raised:
            await events.first_time("Ev1", "T1")
    finally:
        await engine.dispose()

    assert "DATABASE_URL" in (raised.value.detail or "")
    assert "secret" not in raised.value.user_message


async def test_an_unmigrated_database_raises_store_error(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{(tmp_path / 'blank.db').as_posix()}")
    try:
        settings = ChannelSettingsStore(sessions=session_factory(engine))
        with pytest.raises(StoreError, match="channel_settings"):
            await settings.get("T1", "C1")
    finally:
        await engine.dispose()
