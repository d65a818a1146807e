"""Small SQL helpers shared by the repositories."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_for(session: AsyncSession, table: Any) -> Any:
    """An INSERT that knows ON CONFLICT, for the session's backend (SQLite or PostgreSQL).

    Both dialects spell ``on_conflict_do_nothing``/``on_conflict_do_update`` the same way, which
    keeps upserts atomic in one statement instead of a racy select-then-insert.
    """
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def rowcount(result: Any) -> int:
    """Rows touched by an INSERT/UPDATE/DELETE result (CursorResult.rowcount)."""
    return int(result.rowcount)


def clean_text(text: str) -> str:
    """Text PostgreSQL will store: it refuses NUL characters, which PDF text can contain."""
    return text.replace("\x00", "")
