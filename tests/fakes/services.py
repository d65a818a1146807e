"""Real folio services for integration tests: settings built like the app's, stores in tmp.

- ``settings_for(tmp_path, tiny_clip_dir, minilm_dir, **extra)``: Settings.from_env with the
  tiny CLIP, the real MiniLM and a data dir under ``tmp_path``; ``extra`` adds variables.
- ``open_test_services(settings)``: ``rag._services.open_services``, the one seam tests open
  services through.
- ``use_env(monkeypatch, env, cwd)``: the process environment exactly as a shell would have it
  for the ``folio`` command: every variable folio reads is cleared, then ``env`` is set.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from rag._services import Services, open_services
from rag.settings import Settings
from rag.types import IngestResult, Scope

# Every variable rag.settings reads: DESIGN.md's table and the FOLIO_* extras.
# One cache of exported models for every test process: exports are named by their weights'
# fingerprint and written atomically, so sharing is safe and each model exports once.
MODEL_CACHE = Path(tempfile.gettempdir()) / "folio-test-model-cache"

SETTINGS_VARIABLES = (
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_API_URL",
    "FOLIO_SLACK_FILE_HOSTS",
    "FOLIO_INDEX_CHANNELS",
    "FOLIO_BACKFILL_LIMIT",
    "FOLIO_OLD_VERSIONS",
    "FOLIO_ADMIN_USERS",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "FOLIO_VISION_MODEL",
    "FOLIO_ANSWER_MODEL",
    "DATABASE_URL",
    "QDRANT_URL",
    "QDRANT_API_KEY",
    "FOLIO_QDRANT_COLLECTION",
    "FOLIO_DATA_DIR",
    "FOLIO_CLIP_MODEL",
    "FOLIO_TEXT_MODEL",
    "FOLIO_EMBED_PRECISION",
    "FOLIO_EMBED_BACKEND",
    "FOLIO_MODEL_CACHE",
    "PORT",
    "FOLIO_METRICS_PORT",
    "FOLIO_METRICS_TOKEN",
    "FOLIO_LOG_LEVEL",
    "FOLIO_JOB_LEASE_S",
    "FOLIO_SHUTDOWN_GRACE_S",
    "FOLIO_RATE_USER_PER_MIN",
    "FOLIO_RATE_CHANNEL_PER_MIN",
    "FOLIO_MENTION_FILES_WAIT_S",
    "FOLIO_MAX_FILE_MB",
    "FOLIO_MAX_PAGES",
    "FOLIO_PARSE_TIMEOUT_S",
    "FOLIO_PARSE_MEMORY_MB",
    "FOLIO_OCR",
    "FOLIO_RENDER_WORKERS",
    "FOLIO_RENDER_TIMEOUT_S",
    "FOLIO_TOP_K",
    "FOLIO_WEIGHT_CLIP",
    "FOLIO_WEIGHT_TEXT",
    "FOLIO_WEIGHT_BM25",
    "FOLIO_WEIGHT_DOCUMENT",
    "FOLIO_WEIGHT_BM25_HEAD",
    "FOLIO_LATE_INTERACTION",
    "FOLIO_WEIGHT_TOKENS",
    "FOLIO_RERANK_LIMIT",
    "FOLIO_OPENAI_TIMEOUT_S",
    "FOLIO_OPENAI_MAX_RETRIES",
    "FOLIO_OPENAI_CONCURRENCY",
    "FOLIO_MAX_CAPTIONS",
)


def base_env(data_dir: Path, tiny_clip_dir: Path, minilm_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a local folio on the test models, storing under ``data_dir``."""
    return {
        "FOLIO_DATA_DIR": str(data_dir),
        "FOLIO_CLIP_MODEL": str(tiny_clip_dir),
        "FOLIO_TEXT_MODEL": str(minilm_dir),
        "FOLIO_MODEL_CACHE": str(MODEL_CACHE),
        # A loaded 2-core machine can take a while to start a parse child; not a test subject.
        "FOLIO_PARSE_TIMEOUT_S": "60",
        **extra,
    }


def settings_for(tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path, **extra: str) -> Settings:
    """Settings read by Settings.from_env, with the data dir at ``tmp_path / "data"``."""
    return Settings.from_env(base_env(tmp_path / "data", tiny_clip_dir, minilm_dir, **extra))


def model_env(fake_url: str) -> dict[str, str]:
    """Variables that point folio's model client at a fake OpenAI server."""
    return {"OPENAI_API_KEY": "sk-test-secret", "OPENAI_BASE_URL": fake_url + "/v1"}


@asynccontextmanager
async def open_test_services(settings: Settings) -> AsyncIterator[Services]:
    """open_services as the app runs it (it closes stores and the model client on exit)."""
    async with open_services(settings) as services:
        yield services


async def ingest(services: Services, data: bytes, name: str, scope: Scope) -> IngestResult:
    """Ingest ``data`` as ``name`` into ``scope`` through the real Ingestor."""
    return await services.ingestor.ingest(data, file_name=name, scope=scope)


async def totals(services: Services) -> tuple[int, int, int]:
    """(points in the index, document rows, page rows): what a failed ingest must not change."""
    documents, pages = await services.catalog.counts()
    return await services.index.count(), documents, pages


def use_env(monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str], cwd: Path) -> None:
    """Make the process environment ``env`` alone (for folio's variables), run from ``cwd``.

    ``cwd`` matters because the CLI reads ``.env`` from the working directory.
    """
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(cwd)
