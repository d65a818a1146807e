"""Fixtures for the Slack adapter's tests: a fake Slack per test, and the real bot on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from tests.bot.harness import Bot, bot_settings, running_bot, vision_responder
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.processes import FolioProcess
from tests.fakes.slack import FakeSlack


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    """A started fake Slack on 127.0.0.1, stopped after the test."""
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
def make_bot(
    fake_slack: FakeSlack, tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path
) -> Callable[..., AbstractAsyncContextManager[Bot]]:
    """Start the real bot against the fake Slack: ``async with make_bot("http") as bot``.

    Keyword arguments are extra environment values (e.g. ``OPENAI_API_KEY``).
    """

    def make(mode: str = "http", **env: str) -> AbstractAsyncContextManager[Bot]:
        settings = bot_settings(
            fake_slack, tmp_path / "data", tiny_clip_dir, minilm_dir, socket=mode == "socket", **env
        )
        return running_bot(settings, fake_slack, mode)

    return make


@pytest.fixture
async def http_bot(make_bot: Callable[..., AbstractAsyncContextManager[Bot]]) -> AsyncIterator[Bot]:
    """The bot over signed HTTP requests, with extractive answers (no model key)."""
    async with make_bot("http") as bot:
        yield bot


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    """A fake chat-completions server that answers describe, caption and answer requests."""
    async with FakeOpenAI(responder=vision_responder) as fake:
        yield fake


@pytest.fixture
async def processes() -> AsyncIterator[list[FolioProcess]]:
    """Every process a test starts; any still running at the end is killed."""
    started: list[FolioProcess] = []
    yield started
    for process in started:
        await process.close()
