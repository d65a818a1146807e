"""The database goes away under a running bot (a TCP proxy in front of PostgreSQL is cut).

Only questions addressed to folio get an apology, one per question however often Slack
redelivers it; /healthz says 503 while a store is down; and everything resumes by itself when
the database comes back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from rag import StoreError
from rag.db import upgrade_database
from tests.bot.harness import Bot, eventually, text_of
from tests.fakes.database import postgres_base_url, throwaway_postgres_database
from tests.fakes.slack import CHANNEL_ID, app_mention_event, message_event
from tests.fakes.tcp_proxy import TcpProxy

pytestmark = pytest.mark.e2e

APOLOGY = StoreError().user_message


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
