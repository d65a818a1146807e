"""Real databases for tests: migrated SQLite files, and throwaway PostgreSQL databases.

Plain helpers (usable from any test):

- ``migrated_sqlite_url(tmp_path)``: URL of a fresh SQLite file under ``tmp_path``, at head.
- ``throwaway_postgres_database(base_url)``: a context manager creating a uniquely named
  database next to ``base_url`` (FOLIO_TEST_DATABASE_URL) and dropping it afterwards.

Fixtures (import them into a test module or conftest.py to use them there)::

    from tests.fakes.database import database_url, engine, postgres_url, sessions  # noqa: F401

``sessions`` (and ``engine``, ``database_url``) run each test on SQLite, and on PostgreSQL too
when FOLIO_TEST_DATABASE_URL is set; the PostgreSQL variant shares one throwaway database per
test session, emptied after every test.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import delete
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from rag.db import Base, create_engine, session_factory, upgrade_database

TEST_DATABASE_ENV = "FOLIO_TEST_DATABASE_URL"
BACKENDS = ("sqlite", "postgresql")

T = TypeVar("T")

_template: Path | None = None


def postgres_base_url() -> str | None:
    """FOLIO_TEST_DATABASE_URL, or None when PostgreSQL tests should be skipped."""
    return os.environ.get(TEST_DATABASE_ENV) or None


def migrated_sqlite_url(tmp_path: Path) -> str:
    """URL of a fresh SQLite database under ``tmp_path``, migrated to head.

    Alembic runs once per test process into a template file, which is then copied: far faster
    than migrating every test's database. Safe to call from sync or async code.
    """
    global _template
    if _template is None:
        folder = Path(tempfile.mkdtemp(prefix="folio-db-template-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        template = folder / "template.db"
        _off_loop(upgrade_database, _sqlite_url(template))
        _template = template
    path = tmp_path / f"folio-{uuid.uuid4().hex[:8]}.db"
    shutil.copyfile(_template, path)
    return _sqlite_url(path)


@contextmanager
def throwaway_postgres_database(base_url: str) -> Iterator[str]:
    """Create a uniquely named database beside ``base_url``; yield its URL; drop it after."""
    name = f"folio_test_{uuid.uuid4().hex[:16]}"
    _off_loop(_run_async, _admin(base_url, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        _off_loop(_run_async, _admin(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def clear_tables(engine: AsyncEngine) -> None:
    """Delete every row folio's tables hold, dependents first."""
    async with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            await connection.execute(delete(table))


class FakeClock:
    """A clock tests move by hand, so leases and ages need no sleeping.

    ``sleep`` waits on this clock, not on real seconds: code that takes a sleep (a heartbeat)
    wakes when the test moves time past its end with ``elapse``.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
        self._sleepers: list[tuple[datetime, asyncio.Future[None], asyncio.Task[object]]] = []
        self._changed = asyncio.Event()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward (sleepers stay asleep until ``elapse``)."""
        self.now += timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:
        """Return once the clock has been moved ``seconds`` on by ``elapse``."""
        task = asyncio.current_task()
        assert task is not None, "FakeClock.sleep runs in a task"
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + timedelta(seconds=seconds), wake, task))
        self._changed.set()
        await wake

    async def elapse(self, seconds: float, *, settle_s: float = 10) -> None:
        """Move time forward and let each sleeper now due run until it sleeps again or ends."""
        self.advance(seconds)
        due = [(wake, task) for end, wake, task in self._sleepers if end <= self.now]
        self._sleepers = [entry for entry in self._sleepers if entry[0] > self.now]
        woken = [task for wake, task in due if not wake.done()]
        for wake, task in due:
            if not wake.done():
                wake.set_result(None)
            task.add_done_callback(lambda _: self._changed.set())
        async with asyncio.timeout(settle_s):  # real seconds: only a hung sleeper takes long
            while True:
                self._changed.clear()
                if all(task.done() or self._asleep(task) for task in woken):
                    return
                await self._changed.wait()

    def _asleep(self, task: asyncio.Task[object]) -> bool:
        return any(t is task and not wake.done() for _, wake, t in self._sleepers)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated throwaway PostgreSQL database for this test session (skips when unset)."""
    base_url = postgres_base_url()
    if base_url is None:
        pytest.skip(f"{TEST_DATABASE_ENV} is not set")
    with throwaway_postgres_database(base_url) as url:
        _off_loop(upgrade_database, url)
        yield url


def backends() -> tuple[str, ...]:
    """The backends to run database tests on: SQLite, plus PostgreSQL when configured.

    PostgreSQL variants are left out rather than skipped when FOLIO_TEST_DATABASE_URL is unset,
    so the suite's summary is not a wall of identical skips; test_migrations_upgrade_from_blank
    still shows one skip naming the variable.
    """
    return BACKENDS if postgres_base_url() else ("sqlite",)


@pytest.fixture(params=backends())
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A migrated, empty database: SQLite always, PostgreSQL when configured.

    The PostgreSQL database is shared by the session's tests and emptied after each one.
    """
    if request.param == "sqlite":
        yield migrated_sqlite_url(tmp_path)
        return
    url = str(request.getfixturevalue("postgres_url"))
    yield url
    engine = create_engine(url)
    try:
        await clear_tables(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on ``database_url``, disposed after the test."""
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """A session factory on the test database, as the app builds it."""
    return session_factory(engine)


def _sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path.as_posix()}"


async def _admin(base_url: str, sql: str) -> None:
    # CREATE/DROP DATABASE cannot run inside a transaction.
    engine = create_engine(base_url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql(sql)
    finally:
        await engine.dispose()


def _run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def _off_loop(function: Callable[..., T], *args: Any) -> T:
    # Alembic and asyncio.run need a thread without a running event loop; async tests have one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args).result()
