"""HealthCheck: both stores asked, the answer cached, a cut database seen as down and back."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from rag import HealthCheck, StoreHealth
from rag.db import create_engine, session_factory
from rag.index.base import VectorIndex
from tests.fakes.database import postgres_base_url, throwaway_postgres_database
from tests.fakes.tcp_proxy import TcpProxy


async def test_store_health_is_cached_for_its_ttl_and_follows_a_cut_database(
    index: VectorIndex,
) -> None:
    base = postgres_base_url()
    if base is None:
        pytest.skip("FOLIO_TEST_DATABASE_URL is not set")
    now = [0.0]
    with throwaway_postgres_database(base) as url:
        target = make_url(url)
        async with TcpProxy(target.host or "127.0.0.1", target.port or 5432) as proxy:
            proxied = target.set(host="127.0.0.1", port=proxy.port)
            engine = create_engine(proxied.render_as_string(hide_password=False))
            check = HealthCheck(
                sessions=session_factory(engine), index=index, ttl_s=3, clock=lambda: now[0]
            )
            try:
                assert await check.check() == StoreHealth(database=True, index=True)
                await proxy.cut()
                assert (await check.check()).ok  # the answer of a second ago still stands
                now[0] = 3.0
                assert await check.check() == StoreHealth(database=False, index=True)
                await proxy.restore()
                now[0] = 6.0
                assert (await check.check()).ok
            finally:
                await engine.dispose()
