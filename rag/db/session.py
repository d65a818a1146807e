"""Async engines and session factories for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

from rag.errors import ConfigError

# How long a SQLite writer waits for another process's write before giving up.
SQLITE_BUSY_TIMEOUT_S = 30

# Common spellings (Heroku's postgres://, sync drivers) mapped to the async drivers folio uses.
_ASYNC_DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+psycopg2": "postgresql+asyncpg",
    "postgresql+psycopg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+pysqlite": "sqlite+aiosqlite",
}
_SUPPORTED = ("postgresql+asyncpg", "sqlite+aiosqlite")


def database_url(url: str) -> URL:
    """Parse DATABASE_URL into a URL for an async driver; ConfigError when it cannot be used."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            detail="DATABASE_URL is not a database URL; use sqlite+aiosqlite:///path/folio.db "
            "or postgresql+asyncpg://user:password@host:5432/name."
        ) from exc
    parsed = parsed.set(drivername=_ASYNC_DRIVERS.get(parsed.drivername, parsed.drivername))
    if parsed.drivername not in _SUPPORTED:
        raise ConfigError(
            detail=f"DATABASE_URL uses {parsed.drivername!r}; folio supports "
            "sqlite+aiosqlite:// and postgresql+asyncpg:// URLs."
        )
    if parsed.drivername == "postgresql+asyncpg" and "sslmode" in parsed.query:
        # libpq's sslmode (common in hosted DATABASE_URLs) is spelled ssl for asyncpg.
        query = dict(parsed.query)
        query["ssl"] = query.pop("sslmode")
        parsed = parsed.set(query=query)
    return parsed


def redacted(url: str) -> str:
    """The URL with its password masked, for logs and `folio doctor`."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable DATABASE_URL)"


def create_engine(url: str) -> AsyncEngine:
    """An AsyncEngine for ``url`` tuned for its backend (SQLite pragmas, PostgreSQL pre-ping)."""
    parsed = database_url(url)
    if parsed.drivername == "sqlite+aiosqlite":
        return _sqlite_engine(parsed)
    return _create_async_engine(parsed, pool_pre_ping=True, hide_parameters=True)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose loaded objects stay readable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


def _sqlite_engine(url: URL) -> AsyncEngine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = _create_async_engine(
        url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, hide_parameters=True
    )
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Foreign keys are off by default in SQLite; cascades need them. WAL lets readers run
    # beside a writer, and busy_timeout makes a second writer wait instead of failing.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()
