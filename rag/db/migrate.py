"""Run folio's Alembic migrations programmatically (`folio db upgrade`, `folio doctor`)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from rag.db._errors import DATABASE_ERRORS, is_connect_error
from rag.db.session import create_engine, database_url, redacted
from rag.errors import StoreError

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic Config for folio's migrations, pointed at ``url`` when given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # ConfigParser treats % as interpolation; percent-encoded passwords need doubling.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def upgrade_database(url: str) -> None:
    """Migrate the database at ``url`` to the newest revision; call outside an event loop."""
    database_url(url)  # a malformed URL is a ConfigError, before any connection
    logger.info("migrating database %s to %s", redacted(url), head_revision())
    try:
        command.upgrade(alembic_config(url), "head")
    except DATABASE_ERRORS as exc:
        raise _migration_error(url, exc) from exc


async def aupgrade_database(url: str) -> None:
    """``upgrade_database`` for callers inside an event loop (Alembic runs its own loop)."""
    await asyncio.to_thread(upgrade_database, url)


def downgrade_database(url: str, revision: str = "base") -> None:
    """Migrate the database at ``url`` down to ``revision`` (tests and operators only)."""
    try:
        command.downgrade(alembic_config(url), revision)
    except DATABASE_ERRORS as exc:
        raise _migration_error(url, exc) from exc


async def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at; None for a blank database."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_revision_of)
    except DATABASE_ERRORS as exc:
        raise _migration_error(url, exc) from exc
    finally:
        await engine.dispose()


def head_revision() -> str:
    """The newest revision folio's migrations define."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no Alembic revisions under {MIGRATIONS_DIR}")
    return str(head)


def _revision_of(connection: Connection) -> str | None:
    revision = MigrationContext.configure(connection).get_current_revision()
    return None if revision is None else str(revision)


def _migration_error(url: str, exc: BaseException) -> StoreError:
    where = redacted(url)
    if is_connect_error(exc):
        message = (
            f"folio cannot reach the database at {where}; check DATABASE_URL and that the "
            "database is running."
        )
    else:
        message = (
            f"folio could not read or migrate the database at {where}; check that DATABASE_URL "
            "points at folio's database and see the log for the database's error."
        )
    return StoreError(message, detail=f"{message} ({type(exc).__name__}: {exc})")
