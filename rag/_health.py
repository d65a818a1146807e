"""Whether folio's two stores answer: the database and the vector index, cached briefly.

Probes (``/healthz``) ask often and from every process, so one check serves every caller for
``ttl_s`` seconds, and each store gets ``timeout_s`` to answer: a store that hangs counts as
down instead of hanging the probe.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rag.index.base import VectorIndex

logger = logging.getLogger(__name__)

# A document id no document has: counting its points is the cheapest question an index answers.
_NO_DOCUMENT = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True, slots=True)
class StoreHealth:
    """Which stores answered the last check."""

    database: bool
    index: bool

    @property
    def ok(self) -> bool:
        """True when both stores answered."""
        return self.database and self.index


class HealthCheck:
    """Checks the database and the vector index, at most once per ``ttl_s``."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        index: VectorIndex,
        ttl_s: float = 3.0,
        timeout_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._index = index
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s
        self._clock = clock
        self._last: StoreHealth | None = None
        self._checked_at = 0.0
        self._lock = asyncio.Lock()

    async def check(self) -> StoreHealth:
        """The stores' health, from a check at most ``ttl_s`` old."""
        async with self._lock:
            if self._last is None or self._clock() - self._checked_at >= self._ttl_s:
                database, index = await asyncio.gather(self._database(), self._vectors())
                self._last = StoreHealth(database=database, index=index)
                self._checked_at = self._clock()
                if not self._last.ok:
                    logger.warning(
                        "store check: database %s, vector index %s", _word(database), _word(index)
                    )
            return self._last

    async def _database(self) -> bool:
        try:
            async with asyncio.timeout(self._timeout_s), self._sessions() as session:
                await session.execute(text("SELECT 1"))
        except Exception as exc:  # any failure means "down"; the reason goes to the log
            logger.info("database check failed: %s: %s", type(exc).__name__, exc)
            return False
        return True

    async def _vectors(self) -> bool:
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._index.count(document_id=_NO_DOCUMENT)
        except Exception as exc:
            logger.info("vector index check failed: %s: %s", type(exc).__name__, exc)
            return False
        return True


def _word(up: bool) -> str:
    return "up" if up else "down"
