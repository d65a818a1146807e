"""`folio doctor`'s checks (rag._doctor.run_checks) on real settings, models and stores."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rag._doctor import Check, run_checks
from rag.db.migrate import aupgrade_database, head_revision
from rag.embed import ClipEmbedder, TextEmbedder
from rag.index import VectorDims
from rag.index.edge import EdgeIndex
from rag.settings import Settings
from tests.fakes.services import settings_for

SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-doctor-secret-bot",
    "SLACK_APP_TOKEN": "xapp-doctor-secret-app",
    "OPENAI_API_KEY": "sk-doctor-secret",
    "QDRANT_API_KEY": "doctor-secret-qdrant",
}


def by_name(checks: list[Check]) -> dict[str, Check]:
    """The checks keyed by name."""
    return {check.name: check for check in checks}


def assert_one_sentence(text: str) -> None:
    """``text`` is a single sentence: no second sentence starts after a full stop."""
    assert text.endswith("."), text
    assert re.search(r"[.!?]\)?\s+[A-Z]", text) is None, text


async def migrated(settings: Settings) -> Settings:
    """``settings`` with its SQLite database migrated, as any folio command would leave it."""
    await aupgrade_database(settings.database_url)
    return settings


async def test_every_check_passes_with_local_models_and_stores(
    tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path
) -> None:
    settings = await migrated(settings_for(tmp_path, tiny_clip_dir, minilm_dir))
    checks = await run_checks(settings)
    assert [c.name for c in checks] == [
        "configuration",
        "database",
        "CLIP model",
        "text model",
        "vector store",
        "LibreOffice",
        "OCR",
    ]
    assert all(c.ok or not c.required for c in checks), checks
    found = by_name(checks)
    assert found["database"].detail == f"sqlite+aiosqlite reachable, schema at {head_revision()}"
    clip = ClipEmbedder.load(str(tiny_clip_dir), precision="auto", backend="auto").backend
    assert found["CLIP model"].detail == f"{tiny_clip_dir} loaded (32 dimensions, {clip})"
    # The text model the doctor loaded, from the process's cache: OpenVINO where it runs.
    backend = TextEmbedder.load(str(minilm_dir), precision="auto", backend="auto").backend
    assert found["text model"].detail == f"{minilm_dir} loaded (384 dimensions, {backend})"
    assert found["vector store"].detail == "reachable, 0 points"


async def test_the_configuration_line_says_how_folio_will_run_and_hides_secrets(
    tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path
) -> None:
    settings = settings_for(
        tmp_path,
        tiny_clip_dir,
        minilm_dir,
        OPENAI_BASE_URL="http://127.0.0.1:9/v1",
        FOLIO_ANSWER_MODEL="answer-y",
        **SECRETS,
    )
    checks = await run_checks(settings)
    detail = by_name(checks)["configuration"].detail
    assert "Slack Socket Mode" in detail
    assert "answer model answer-y at http://127.0.0.1:9/v1" in detail
    assert f"embedded Qdrant Edge in {tmp_path / 'data' / 'qdrant'}" in detail
    printed = repr(checks)
    for secret in SECRETS.values():
        assert secret not in printed


async def test_a_database_behind_the_schema_names_the_command_that_fixes_it(
    tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path
) -> None:
    settings = settings_for(tmp_path, tiny_clip_dir, minilm_dir)  # never migrated
    database = by_name(await run_checks(settings))["database"]
    assert not database.ok
    assert database.detail == (
        f"The sqlite+aiosqlite database is at revision none, not {head_revision()}; "
        "run `folio db upgrade`."
    )


async def test_a_missing_clip_folder_fails_its_check_and_skips_the_vector_store(
    tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path
) -> None:
    missing = tmp_path / "no-such-model"
    settings = await migrated(
        settings_for(tmp_path, tiny_clip_dir, minilm_dir, FOLIO_CLIP_MODEL=str(missing))
    )
    found = by_name(await run_checks(settings))
    assert not found["CLIP model"].ok
    assert found["CLIP model"].detail.startswith(
        f"FOLIO_CLIP_MODEL points at {missing}, which does not exist"
    )
    assert found["text model"].ok and found["database"].ok
    assert "vector store" not in found


async def test_a_missing_clip_folder_is_reported_in_one_sentence(
    tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path
) -> None:
    missing = tmp_path / "no-such-model"
    settings = settings_for(tmp_path, tiny_clip_dir, minilm_dir, FOLIO_CLIP_MODEL=str(missing))
    detail = by_name(await run_checks(settings))["CLIP model"].detail
    assert str(missing) in detail and "FOLIO_CLIP_MODEL" in detail
    assert "repo_type" not in detail
    assert_one_sentence(detail)


DOCTOR_DETAIL_BUG = (
    "BUG: rag/doctor.py _check prints exc.detail before exc.user_message, so a store failure "
    "shows the engine's raw text instead of the actionable sentence the error carries. Fix: "
    "for errors other than ConfigError print user_message (or user_message plus the detail)."
)


async def vector_store_check_while_held(settings: Settings) -> Check:
    """The vector store check while another handle holds the Edge shard."""
    holder = EdgeIndex(path=settings.qdrant_path)
    await holder.open(VectorDims(clip=32, text=384))
    try:
        return by_name(await run_checks(settings))["vector store"]
    finally:
        await holder.close()


async def test_a_vector_store_held_by_another_process_is_reported_not_raised(
    tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path
) -> None:
    settings = await migrated(settings_for(tmp_path, tiny_clip_dir, minilm_dir))
    vectors = await vector_store_check_while_held(settings)
    assert not vectors.ok
    assert "WouldBlock" in vectors.detail or "Another folio process" in vectors.detail


async def test_a_vector_store_held_by_another_process_is_reported_in_a_sentence_saying_what_to_do(
    tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path
) -> None:
    settings = await migrated(settings_for(tmp_path, tiny_clip_dir, minilm_dir))
    vectors = await vector_store_check_while_held(settings)
    assert vectors.detail.startswith("Another folio process is using the vector store")
    assert_one_sentence(vectors.detail)


async def test_an_unreachable_qdrant_server_is_reported_not_raised(
    tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path
) -> None:
    settings = await migrated(
        settings_for(tmp_path, tiny_clip_dir, minilm_dir, QDRANT_URL="http://127.0.0.1:9")
    )
    found = by_name(await run_checks(settings))
    assert "vectors http://127.0.0.1:9" in found["configuration"].detail
    assert not found["vector store"].ok
    assert found["vector store"].detail


async def test_an_unreachable_qdrant_server_is_reported_in_a_sentence_naming_qdrant_url(
    tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path
) -> None:
    settings = await migrated(
        settings_for(tmp_path, tiny_clip_dir, minilm_dir, QDRANT_URL="http://127.0.0.1:9")
    )
    vectors = by_name(await run_checks(settings))["vector store"]
    assert "QDRANT_URL" in vectors.detail
    assert_one_sentence(vectors.detail)


async def test_libreoffice_missing_is_a_warning_that_says_what_to_install(
    tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = await migrated(settings_for(tmp_path, tiny_clip_dir, minilm_dir))
    monkeypatch.setenv("PATH", str(tmp_path))
    found = by_name(await run_checks(settings))
    office = found["LibreOffice"]
    assert (office.ok, office.required, office.mark) == (False, False, "!")
    assert "apt-get install libreoffice-writer-nogui libreoffice-impress-nogui" in office.detail
    assert found["OCR"].ok and found["OCR"].detail.startswith("RapidOCR ")
