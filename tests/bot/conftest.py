"""Fixtures for the Slack adapter's tests: a fake Slack per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.slack import FakeSlack


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    """A started fake Slack on 127.0.0.1, stopped after the test."""
    async with FakeSlack() as fake:
        yield fake
