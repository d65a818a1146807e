"""The database goes away under a running bot (a TCP proxy in front of PostgreSQL is cut).

Only questions addressed to folio get an apology, one per question however often Slack
redelivers it; /healthz says 503 while a store is down; and everything resumes by itself when
the database comes back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy.engine import make_url

from bot.cli import serve
from rag import StoreError
from rag.db import Catalog, ChannelSettingsStore, create_engine, session_factory, upgrade_database
from tests.bot.harness import (
    DOCS_CHANNEL,
    SECRET,
    Bot,
    bot_settings,
    eventually,
    pdf_bytes,
    text_of,
)
from tests.fakes.database import postgres_base_url, throwaway_postgres_database
from tests.fakes.net import free_port, until_ok
from tests.fakes.slack import (
    CHANNEL_ID,
    FakeSlack,
    app_mention_event,
    event_callback,
    event_request,
    file_share_message_event,
    message_event,
)
from tests.fakes.tcp_proxy import TcpProxy

pytestmark = pytest.mark.e2e

APOLOGY = StoreError().user_message
REPORT = ["The payload size of the report is 42 kilobytes, measured in March."]


@pytest.fixture
async def database() -> AsyncIterator[tuple[str, TcpProxy]]:
    """A migrated PostgreSQL database reached through a proxy the test can cut."""
    base = postgres_base_url()
    if base is None:
        pytest.skip("FOLIO_TEST_DATABASE_URL is not set")
    with throwaway_postgres_database(base) as url:
        await asyncio.to_thread(upgrade_database, url)
        target = make_url(url)
        async with TcpProxy(target.host or "127.0.0.1", target.port or 5432) as proxy:
            proxied = target.set(host="127.0.0.1", port=proxy.port)
            yield proxied.render_as_string(hide_password=False), proxy


async def health(bot: Bot) -> int:
    """The status /healthz answers."""
    assert bot.http is not None
    response = await bot.http.get("/healthz")
    await response.read()
    return response.status


async def test_with_the_database_down_only_addressed_questions_get_one_apology_then_it_resumes(
    make_bot: Callable[..., AbstractAsyncContextManager[Bot]],
    database: tuple[str, TcpProxy],
) -> None:
    url, proxy = database
    async with make_bot("http", DATABASE_URL=url) as bot:
        assert await health(bot) == 200

        await proxy.cut()
        await eventually(lambda: _is(health(bot), 503))
        mention = app_mention_event("what is the payload size?")
        for retry in (None, 1, 2):  # Slack redelivers an event it thinks went unanswered
            await bot.event(mention, event_id="Ev0MENTION", retry_num=retry)
        overheard = message_event(f"<@{bot.fake.bot_user_id}> what is the payload size?")
        await bot.event(overheard, event_id="Ev0OVERHEARD")
        chatter = message_event("lunch at noon?")
        await bot.event(chatter, event_id="Ev0CHATTER")
        direct = message_event("what is the payload size?", channel="D0DIRECT", channel_type="im")
        await bot.event(direct, event_id="Ev0DIRECT")
        await bot.event(direct, event_id="Ev0DIRECT", retry_num=1)
        assert await bot.inflight.idle(30)  # acked first; handled (or apologised for) after

        assert _texts(bot, CHANNEL_ID, mention["ts"]) == [APOLOGY]
        assert _texts(bot, "D0DIRECT", direct["ts"]) == [APOLOGY]
        assert bot.posted(CHANNEL_ID, overheard["ts"]) == []
        assert bot.posted(CHANNEL_ID, chatter["ts"]) == []
        assert set(bot.statuses) == {200}

        await proxy.restore()
        await eventually(lambda: _is(health(bot), 200))
        again = app_mention_event("what is the payload size?")
        await bot.event(again, event_id="Ev0AGAIN")
        [answer] = await eventually(lambda: _answers(bot, again["ts"]))
        assert APOLOGY not in text_of(answer)


def _texts(bot: Bot, channel: str, ts: str) -> list[str]:
    return [str(c.params.get("text")) for c in bot.posted(channel, ts)]


async def _is(status: Any, wanted: int) -> bool:
    return bool(await status == wanted)


async def _answers(bot: Bot, ts: str) -> list[Any]:
    return [c for c in bot.posted(CHANNEL_ID, ts) if c.params.get("blocks")]


async def test_a_share_acked_while_the_database_was_down_is_indexed_after_a_restart(
    fake_slack: FakeSlack,
    tmp_path: Path,
    tiny_clip_dir: Path,
    minilm_dir: Path,
    database: tuple[str, TcpProxy],
) -> None:
    url, proxy = database
    port = free_port()
    settings = bot_settings(
        fake_slack,
        tmp_path,
        tiny_clip_dir,
        minilm_dir,
        DATABASE_URL=url,
        FOLIO_INDEX_CHANNELS="",
        PORT=str(port),
    )
    engine = create_engine(url)
    catalog = Catalog(sessions=session_factory(engine))
    # The channel was turned on with `/folio index here`, not configured.
    await ChannelSettingsStore(sessions=session_factory(engine)).set_indexing(
        fake_slack.team_id, DOCS_CHANNEL, True, "U0ALICE"
    )
    info = fake_slack.add_file(
        "F0LOST", "q3.pdf", pdf_bytes(REPORT), "application/pdf", channels=(DOCS_CHANNEL,)
    )
    share = file_share_message_event([info], channel=DOCS_CHANNEL)
    try:
        stop = asyncio.Event()
        served = asyncio.create_task(serve(settings, stop=stop))
        await until_ok(f"http://127.0.0.1:{port}/healthz", timeout_s=120)
        await proxy.cut()
        raw, headers = event_request(event_callback(share), SECRET)
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"http://127.0.0.1:{port}/slack/events", data=raw, headers=headers
            ) as acked:
                assert acked.status == 200  # acknowledged, but nothing could be queued
        stop.set()
        assert await asyncio.wait_for(served, 60) == 0

        await proxy.restore()
        assert await catalog.by_slack_file(fake_slack.team_id, "F0LOST") == []
        stop = asyncio.Event()
        served = asyncio.create_task(serve(settings, stop=stop))  # the restart
        [document] = await eventually(
            lambda: catalog.by_slack_file(fake_slack.team_id, "F0LOST"), timeout=120
        )
        stop.set()
        assert await asyncio.wait_for(served, 60) == 0
        assert document.file_name == "q3.pdf"
    finally:
        await engine.dispose()
