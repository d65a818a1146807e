"""Settings.from_env and the CLI's .env loading: every variable read, secrets masked, bad values
stopped at start-up with one sentence naming the variable."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rag.cli import load_settings
from rag.errors import ConfigError
from rag.settings import (
    DEFAULT_CLIP_MODEL,
    DEFAULT_TEXT_MODEL,
    DEFAULT_VISION_MODEL,
    Secret,
    Settings,
)
from tests.fakes.services import SETTINGS_VARIABLES

REPO = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024


def _value(secret: Secret | None) -> str | None:
    return None if secret is None else secret.value


# (variable, a valid non-default value, how to read it back, what it must read as)
READS: list[tuple[str, str, Callable[[Settings], Any], Any]] = [
    ("SLACK_BOT_TOKEN", "xoxb-1-bot", lambda s: _value(s.slack_bot_token), "xoxb-1-bot"),
    ("SLACK_APP_TOKEN", "xapp-1-app", lambda s: _value(s.slack_app_token), "xapp-1-app"),
    ("SLACK_SIGNING_SECRET", "signing-1", lambda s: _value(s.slack_signing_secret), "signing-1"),
    ("SLACK_API_URL", "http://127.0.0.1:9/api", lambda s: s.slack_api_url, "http://127.0.0.1:9/api/"),
    ("FOLIO_SLACK_FILE_HOSTS", "a.example, b.example", lambda s: s.slack_file_hosts,
     ("a.example", "b.example")),
    ("FOLIO_INDEX_CHANNELS", "C1,C2", lambda s: s.index_channels, ("C1", "C2")),
    ("FOLIO_ADMIN_USERS", "U1", lambda s: s.admin_users, ("U1",)),
    ("OPENAI_API_KEY", "sk-1", lambda s: _value(s.openai_api_key), "sk-1"),
    ("OPENAI_BASE_URL", "http://127.0.0.1:9/v1", lambda s: s.openai_base_url,
     "http://127.0.0.1:9/v1"),
    ("FOLIO_VISION_MODEL", "vision-x", lambda s: (s.llm.vision_model, s.llm.answer_model),
     ("vision-x", "vision-x")),
    ("FOLIO_ANSWER_MODEL", "answer-y", lambda s: s.llm.answer_model, "answer-y"),
    ("DATABASE_URL", "postgresql+asyncpg://db/folio", lambda s: s.database_url,
     "postgresql+asyncpg://db/folio"),
    ("QDRANT_URL", "http://qdrant:6333", lambda s: (s.qdrant_url, s.embedded_index),
     ("http://qdrant:6333", False)),
    ("QDRANT_API_KEY", "qk-1", lambda s: _value(s.qdrant_api_key), "qk-1"),
    ("FOLIO_QDRANT_COLLECTION", "docs", lambda s: s.qdrant_collection, "docs"),
    ("FOLIO_DATA_DIR", "/srv/folio", lambda s: (s.data_dir, s.qdrant_path, s.database_url),
     (Path("/srv/folio"), Path("/srv/folio/qdrant"), "sqlite+aiosqlite:////srv/folio/folio.db")),
    ("FOLIO_CLIP_MODEL", "/models/clip", lambda s: s.clip_model, "/models/clip"),
    ("FOLIO_TEXT_MODEL", "/models/text", lambda s: s.text_model, "/models/text"),
    ("FOLIO_EMBED_PRECISION", "float32", lambda s: s.embed_precision, "float32"),
    ("FOLIO_EMBED_BACKEND", "OpenVINO", lambda s: s.embed_backend, "openvino"),
    ("FOLIO_MODEL_CACHE", "/cache/folio", lambda s: s.model_cache, Path("/cache/folio")),
    ("PORT", "8080", lambda s: s.port, 8080),
    ("FOLIO_METRICS_PORT", "9100", lambda s: s.metrics_port, 9100),
    ("FOLIO_METRICS_TOKEN", "m-secret", lambda s: s.metrics_token.value, "m-secret"),
    ("FOLIO_LOG_LEVEL", "debug", lambda s: s.log_level, "DEBUG"),
    ("FOLIO_JOB_LEASE_S", "30", lambda s: s.job_lease_s, 30.0),
    ("FOLIO_SHUTDOWN_GRACE_S", "0", lambda s: s.shutdown_grace_s, 0.0),
    ("FOLIO_RATE_USER_PER_MIN", "3", lambda s: s.rate_user_per_min, 3),
    ("FOLIO_RATE_CHANNEL_PER_MIN", "0", lambda s: s.rate_channel_per_min, 0),
    ("FOLIO_MENTION_FILES_WAIT_S", "0.5", lambda s: s.mention_files_wait_s, 0.5),
    ("FOLIO_MAX_FILE_MB", "7", lambda s: s.parse.max_bytes, 7 * MiB),
    ("FOLIO_MAX_PAGES", "12", lambda s: s.parse.max_pages, 12),
    ("FOLIO_PARSE_TIMEOUT_S", "2.5", lambda s: s.parse.timeout_s, 2.5),
    ("FOLIO_PARSE_MEMORY_MB", "512", lambda s: s.parse.memory_mb, 512),
    ("FOLIO_OCR", "off", lambda s: s.parse.ocr, False),
    ("FOLIO_BACKFILL_LIMIT", "25", lambda s: s.backfill_limit, 25),
    ("FOLIO_OLD_VERSIONS", "keep", lambda s: s.old_versions, "keep"),
    ("FOLIO_RENDER_WORKERS", "3", lambda s: s.parse.render_workers, 3),
    ("FOLIO_RENDER_TIMEOUT_S", "4", lambda s: s.parse.render_timeout_s, 4.0),
    ("FOLIO_TOP_K", "5", lambda s: s.retrieval.top_k, 5),
    ("FOLIO_WEIGHT_CLIP", "0.5", lambda s: s.retrieval.clip_weight, 0.5),
    ("FOLIO_WEIGHT_TEXT", "2", lambda s: s.retrieval.text_weight, 2.0),
    ("FOLIO_WEIGHT_BM25", "0", lambda s: s.retrieval.bm25_weight, 0.0),
    ("FOLIO_WEIGHT_DOCUMENT", "0.05", lambda s: s.retrieval.document_weight, 0.05),
    ("FOLIO_WEIGHT_BM25_HEAD", "0.5", lambda s: s.retrieval.bm25_head_weight, 0.5),
    ("FOLIO_LATE_INTERACTION", "on", lambda s: (s.token_vectors, s.retrieval.token_weight),
     (True, 0.01)),
    ("FOLIO_RERANK_LIMIT", "20", lambda s: s.retrieval.rerank_limit, 20),
    # Without FOLIO_LATE_INTERACTION=on there are no token vectors to weigh.
    ("FOLIO_WEIGHT_TOKENS", "2", lambda s: s.retrieval.token_weight, 0.0),
    ("FOLIO_OPENAI_TIMEOUT_S", "9", lambda s: s.llm.timeout_s, 9.0),
    ("FOLIO_OPENAI_MAX_RETRIES", "0", lambda s: s.llm.max_retries, 0),
    ("FOLIO_OPENAI_CONCURRENCY", "2", lambda s: s.llm.concurrency, 2),
    ("FOLIO_MAX_CAPTIONS", "0", lambda s: s.llm.max_captions_per_document, 0),
]  # fmt: skip

# (variable, bad value)
BAD: list[tuple[str, str]] = [
    ("PORT", "abc"),
    ("PORT", "70000"),
    ("PORT", "0"),
    ("FOLIO_METRICS_PORT", "70000"),
    ("PORT", "3000.5"),
    ("SLACK_BOT_TOKEN", "xoxp-user-token"),
    ("SLACK_APP_TOKEN", "xoxb-not-an-app-token"),
    ("SLACK_API_URL", "ftp://x"),
    ("SLACK_API_URL", "slack.com/api"),
    ("OPENAI_BASE_URL", "localhost:8000"),
    ("QDRANT_URL", "qdrant:6333"),
    ("FOLIO_TOP_K", "0"),
    ("FOLIO_TOP_K", "51"),
    ("FOLIO_LOG_LEVEL", "LOUD"),
    ("FOLIO_MAX_FILE_MB", "0"),
    ("FOLIO_MAX_FILE_MB", "1.5"),
    ("FOLIO_MAX_PAGES", "many"),
    ("FOLIO_PARSE_TIMEOUT_S", "0.5"),
    ("FOLIO_PARSE_MEMORY_MB", "64"),
    ("FOLIO_RENDER_WORKERS", "0"),
    ("FOLIO_RENDER_TIMEOUT_S", "0"),
    ("FOLIO_WEIGHT_CLIP", "-1"),
    ("FOLIO_WEIGHT_TEXT", "heavy"),
    ("FOLIO_OPENAI_TIMEOUT_S", "0"),
    ("FOLIO_OPENAI_MAX_RETRIES", "11"),
    ("FOLIO_OPENAI_CONCURRENCY", "0"),
    ("FOLIO_MAX_CAPTIONS", "-1"),
    ("FOLIO_JOB_LEASE_S", "0.5"),
    ("FOLIO_SHUTDOWN_GRACE_S", "-1"),
    ("FOLIO_RATE_USER_PER_MIN", "-1"),
    ("FOLIO_MENTION_FILES_WAIT_S", "60"),
    ("FOLIO_BACKFILL_LIMIT", "-5"),
    ("FOLIO_OLD_VERSIONS", "archive"),
]

SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-111-secret-bot",
    "SLACK_APP_TOKEN": "xapp-222-secret-app",
    "SLACK_SIGNING_SECRET": "333-secret-signing",
    "OPENAI_API_KEY": "sk-444-secret-openai",
    "QDRANT_API_KEY": "555-secret-qdrant",
    "FOLIO_METRICS_TOKEN": "666-secret-metrics",
}


def assert_one_sentence(message: str, variable: str) -> None:
    """``message`` is a single sentence that names ``variable``."""
    assert variable in message, message
    assert message.endswith("."), message
    assert "\n" not in message, message
    # A second sentence would start after ". " with a capital letter.
    assert re.search(r"[.!?]\s+[A-Z]", message) is None, message


def test_every_variable_of_the_design_table_and_the_extras_is_read() -> None:
    assert {name for name, *_ in READS} == set(SETTINGS_VARIABLES)
    for name, value, read, expected in READS:
        assert read(Settings.from_env({name: value})) == expected, name


def test_every_variable_in_env_example_is_one_folio_reads() -> None:
    text = (REPO / ".env.example").read_text(encoding="utf-8")
    names = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))
    assert names, "no variables found in .env.example"
    assert names <= set(SETTINGS_VARIABLES)


def test_defaults_apply_when_nothing_is_set() -> None:
    settings = Settings.from_env({})
    assert settings == Settings.from_env({name: "  " for name in SETTINGS_VARIABLES})
    assert settings.data_dir == Path("data")
    assert settings.database_url == "sqlite+aiosqlite:///data/folio.db"
    assert settings.qdrant_url is None and settings.embedded_index
    assert settings.qdrant_path == Path("data/qdrant")
    assert settings.slack_bot_token is None and settings.slack_app_token is None
    assert settings.slack_signing_secret is None and settings.openai_api_key is None
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.slack_file_hosts == ("files.slack.com",)
    assert settings.index_channels == () and settings.admin_users == ()
    assert settings.openai_base_url is None
    assert settings.llm.vision_model == settings.llm.answer_model == DEFAULT_VISION_MODEL
    assert settings.clip_model == DEFAULT_CLIP_MODEL == "openai/clip-vit-base-patch32"
    assert settings.text_model == DEFAULT_TEXT_MODEL == "sentence-transformers/all-MiniLM-L6-v2"
    assert settings.port == 3000
    assert settings.log_level == "INFO"
    assert settings.parse.max_bytes == 50 * MiB
    assert settings.retrieval.top_k == 8
    assert settings.llm.max_captions_per_document == 20


def test_secrets_never_appear_in_repr_str_or_describe() -> None:
    settings = Settings.from_env(SECRETS)
    assert isinstance(settings.openai_api_key, Secret)
    printed = [repr(settings), str(settings), repr(settings.describe())]
    printed += [f"{value}" for _, value in settings.describe()]
    for text in printed:
        for secret in SECRETS.values():
            assert secret not in text
    rows = dict(settings.describe())
    assert rows["openai_api_key"] == "********"
    assert rows["slack_bot_token"] == "********"
    assert rows["openai_base_url"] == "(unset)"


def test_a_database_password_never_appears_in_repr_or_describe() -> None:
    settings = Settings.from_env({"DATABASE_URL": "postgresql+asyncpg://folio:hunter2@db/folio"})
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in repr(settings.describe())


@pytest.mark.parametrize(("variable", "value"), BAD)
def test_a_bad_value_raises_config_error_in_one_sentence_naming_the_variable(
    variable: str, value: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({variable: value})
    assert_one_sentence(str(caught.value), variable)
    assert caught.value.detail == str(caught.value)


def test_a_malformed_token_is_not_echoed_in_the_error() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"SLACK_BOT_TOKEN": "xoxp-123-leaked-user-token"})
    assert "leaked" not in str(caught.value)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("FOLIO_WEIGHT_CLIP", "nan"), ("FOLIO_WEIGHT_TEXT", "inf"), ("FOLIO_PARSE_TIMEOUT_S", "nan")],
)
def test_a_non_finite_number_raises_config_error(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({variable: value})
    assert_one_sentence(str(caught.value), variable)


def test_load_settings_fills_unset_values_from_env_file_and_the_environment_wins(
    tmp_path: Path,
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# comments and blank lines are fine\n\n"
        "PORT=4000\n"
        "FOLIO_TOP_K=3\n"
        'OPENAI_API_KEY="sk-from-dotenv"\n',
        encoding="utf-8",
    )
    settings = load_settings({"PORT": "5000"}, env_file=env_file)
    assert settings.port == 5000
    assert settings.retrieval.top_k == 3
    assert settings.openai_api_key is not None
    assert settings.openai_api_key.value == "sk-from-dotenv"


def test_load_settings_without_an_env_file_reads_the_environment_only(tmp_path: Path) -> None:
    settings = load_settings({"PORT": "5000"}, env_file=tmp_path / "missing.env")
    assert settings.port == 5000
    assert settings.retrieval.top_k == 8


def test_a_bad_value_in_env_file_is_reported_like_one_in_the_environment(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=abc\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings({}, env_file=env_file)
    assert_one_sentence(str(caught.value), "PORT")


def test_late_interaction_is_off_by_default_and_weighs_what_is_set_when_on() -> None:
    off = Settings.from_env({})
    on = Settings.from_env({"FOLIO_LATE_INTERACTION": "ON", "FOLIO_WEIGHT_TOKENS": "0.5"})

    assert (off.token_vectors, off.retrieval.token_weight) == (False, 0.0)
    assert (on.token_vectors, on.retrieval.token_weight) == (True, 0.5)
    with pytest.raises(ConfigError, match="FOLIO_LATE_INTERACTION"):
        Settings.from_env({"FOLIO_LATE_INTERACTION": "maybe"})


def test_embed_precision_is_auto_by_default_and_checked() -> None:
    assert Settings.from_env({}).embed_precision == "auto"
    assert Settings.from_env({"FOLIO_EMBED_PRECISION": "BFloat16"}).embed_precision == "bfloat16"
    with pytest.raises(ConfigError, match="FOLIO_EMBED_PRECISION"):
        Settings.from_env({"FOLIO_EMBED_PRECISION": "int4"})


def test_embed_backend_is_auto_by_default_and_checked() -> None:
    assert Settings.from_env({}).embed_backend == "auto"
    assert Settings.from_env({"FOLIO_EMBED_BACKEND": "torch"}).embed_backend == "torch"
    with pytest.raises(ConfigError, match="FOLIO_EMBED_BACKEND"):
        Settings.from_env({"FOLIO_EMBED_BACKEND": "onnx"})


def test_exported_models_are_cached_under_the_data_dir_by_default() -> None:
    assert Settings.from_env({"FOLIO_DATA_DIR": "/srv/f"}).model_cache == Path("/srv/f/models")
