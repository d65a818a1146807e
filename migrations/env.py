"""Alembic environment: async, and reading the database URL from folio's own Settings."""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

from rag.db.models import Base, UTCDateTime
from rag.db.session import create_engine
from rag.settings import Settings

config = context.config

# Only the `alembic` command line configures logging from the ini file; programmatic
# upgrades (folio db upgrade, tests) keep the application's logging as it is.
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata

# An arbitrary constant naming folio's migration lock in PostgreSQL's advisory-lock space.
MIGRATION_LOCK_ID = 4_207_011_001


def database_url() -> str:
    """sqlalchemy.url when the caller set it, else DATABASE_URL as the app reads it."""
    url = config.get_main_option("sqlalchemy.url")
    return url or Settings.from_env(os.environ).database_url


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render folio's UTCDateTime as a plain timezone-aware DateTime in new revisions."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (`alembic upgrade head --sql`)."""
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    """Run the migrations on one connection; batch mode lets SQLite alter tables later."""
    if connection.dialect.name == "sqlite":
        # Batch mode rebuilds a table by dropping it; with foreign keys on, that drop would
        # cascade into the rows that reference it. SQLite ignores this pragma inside a
        # transaction, so it is set and committed first.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Several processes may start at once and all run `folio db upgrade`; this
            # transaction-scoped lock makes them take turns instead of racing on DDL.
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
        context.run_migrations()


async def run_async_migrations() -> None:
    """Connect with the same engine settings as the app and migrate."""
    engine = create_engine(database_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_async_migrations())
