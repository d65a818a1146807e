"""Fixtures for rag tests: a fake OpenAI server and a real client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
import pytest

from tests.fakes.openai_server import FakeOpenAI


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    """A running fake chat-completions server that records every request."""
    async with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
async def openai_client(fake_openai: FakeOpenAI) -> AsyncIterator[openai.AsyncOpenAI]:
    """The real AsyncOpenAI client aimed at the fake, with retries left to folio."""
    client = openai.AsyncOpenAI(base_url=fake_openai.url + "/v1", api_key="test", max_retries=0)
    yield client
    await client.close()
