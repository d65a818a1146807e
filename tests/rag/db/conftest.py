"""Backend-parametrised database fixtures for the relational layer's tests.

``sessions``/``engine``/``database_url`` run each test on SQLite, and on PostgreSQL when
FOLIO_TEST_DATABASE_URL is set. They are defined in tests/fakes/database.py so that tests
elsewhere can import them the same way.
"""

from __future__ import annotations

import pytest

from tests.fakes.database import (  # noqa: F401
    FakeClock,
    database_url,
    engine,
    postgres_url,
    sessions,
)


@pytest.fixture
def clock() -> FakeClock:
    """A hand-moved clock starting at a fixed UTC instant."""
    return FakeClock()
