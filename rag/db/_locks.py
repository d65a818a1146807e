"""One writer per document at a time, across processes: overlapping ingests of the same bytes.

Two shares of one file in a channel make the same document id, and two workers may index them
at once. Whoever holds the document's lock stores its points and rows; the other waits, then
finds the document recorded and adds nothing, so it never deletes points it did not write.

On PostgreSQL the lock is a session-level advisory lock on a connection held for the block
(the server drops it if the process dies). SQLite is one process's database, so an asyncio
lock per document id serves there.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
import weakref
from collections.abc import AsyncIterator

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rag.db._errors import translated

_LOCAL: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()


@contextlib.asynccontextmanager
async def document_lock(
    sessions: async_sessionmaker[AsyncSession], document_id: str
) -> AsyncIterator[None]:
    """Hold the lock of ``document_id`` for the block (waits while another holder has it)."""
    async with sessions() as session:
        if session.get_bind().dialect.name != "postgresql":
            lock = _LOCAL.setdefault(document_id, asyncio.Lock())
            async with lock:
                yield
            return
        key = _advisory_key(document_id)
        await _lock(session, key)
        try:
            yield
        finally:
            await asyncio.shield(_unlock(session, key))


def _advisory_key(document_id: str) -> int:
    return int.from_bytes(uuid.UUID(document_id).bytes[:8], "big", signed=True)


@translated("waiting for another process indexing the same file")
async def _lock(session: AsyncSession, key: int) -> None:
    await session.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})


@translated("releasing a document lock")
async def _unlock(session: AsyncSession, key: int) -> None:
    await session.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
