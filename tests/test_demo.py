"""`make demo` (tests/demo.py): the sample filings ingested offline, one question answered in
the terminal, the cited page written as a PNG with its passage highlighted."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rag.answer._highlight import HIGHLIGHT_FILL
from tests import demo

ULTA = "ULTABEAUTY_2023Q4_EARNINGS.pdf"
NO_CACHE = {"HF_HUB_CACHE": "/nonexistent/hub"}


def highlighted_pixels(png: Path) -> int:
    """How many pixels show white paper under folio's highlight colour."""
    alpha = HIGHLIGHT_FILL[3] / 255
    want = [round(255 * (1 - alpha) + channel * alpha) for channel in HIGHLIGHT_FILL[:3]]
    with Image.open(png) as image:
        assert image.format == "PNG"
        pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    return int(np.all(np.abs(pixels - np.array(want, dtype=np.int16)) <= 4, axis=-1).sum())


def test_without_a_cached_clip_a_tiny_random_one_is_built_and_said_to_be_random(
    tmp_path: Path,
) -> None:
    clip = demo.choose_clip(NO_CACHE, tmp_path)
    assert clip.random and (Path(clip.name) / "config.json").is_file()
    assert Path(clip.name).parent == tmp_path
    assert "RANDOM" in clip.source and "FOLIO_WEIGHT_CLIP=0" in clip.source


def test_configured_models_are_used_as_they_are(tmp_path: Path) -> None:
    environ = {**NO_CACHE, "FOLIO_CLIP_MODEL": "/models/clip", "FOLIO_TEXT_MODEL": "/models/t"}
    assert demo.choose_clip(environ, tmp_path) == demo.Model("/models/clip", "FOLIO_CLIP_MODEL")
    assert demo.choose_text(environ) == demo.Model("/models/t", "FOLIO_TEXT_MODEL")
    assert list(tmp_path.iterdir()) == []  # nothing built


def test_without_a_cached_text_model_the_dev_package_serves(minilm_dir: Path) -> None:
    assert demo.choose_text(NO_CACHE).name == str(minilm_dir)


def test_the_demo_environment_drops_every_setting_of_a_real_setup(tmp_path: Path) -> None:
    real = {
        "PATH": "/usr/bin",
        "DATABASE_URL": "postgresql+asyncpg://db/folio",
        "QDRANT_URL": "http://qdrant:6333",
        "OPENAI_API_KEY": "sk-real",
        "SLACK_BOT_TOKEN": "xoxb-real",
        "FOLIO_WEIGHT_TEXT": "3",
    }
    clip, text = demo.Model("/c", "x", random=True), demo.Model("/t", "y")

    env = demo.demo_environment(real, tmp_path, clip, text)

    assert env == {
        "PATH": "/usr/bin",
        "FOLIO_DATA_DIR": str(tmp_path / "data"),
        "FOLIO_CLIP_MODEL": "/c",
        "FOLIO_TEXT_MODEL": "/t",
        "FOLIO_WEIGHT_CLIP": "0",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }


@pytest.mark.e2e
def test_the_demo_answers_from_sample_filings_offline_citing_ulta_page_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A newcomer's shell after a half-done setup: no model cached, stores and a key configured
    # in the environment and in .env; the demo must touch none of them.
    for name in ("FOLIO_CLIP_MODEL", "FOLIO_TEXT_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://nowhere.invalid/folio")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-be-used")
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("QDRANT_URL=http://nowhere.invalid:6333\n")
    # Two of the samples keep the test quick; `make demo` reads all of tests/data.
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in (ULTA, "PEPSICO_2023_8K_dated-2023-05-05_pages_1-2.pdf"):
        shutil.copyfile(demo.SAMPLES / name, docs / name)
    workdir = tmp_path / "demo"

    assert demo.main(["--docs", str(docs), "--workdir", str(workdir)]) == 0

    out = capsys.readouterr().out
    assert "tiny RANDOM CLIP" in out and "no OPENAI_API_KEY" in out
    assert "$ folio ingest" in out and "2 added, 0 unchanged, 0 failed" in out
    assert "The $104.2 million increase was primarily due to the opening of 47 new stores" in out
    assert f"[1] {ULTA}, page 3" in out
    png = workdir / "pages" / f"1-{Path(ULTA).stem}-p3.png"
    assert f"Open {png}" in out
    assert highlighted_pixels(png) > 5000
    assert (workdir / "data").is_dir()  # the throwaway data dir, and nothing beside it
    assert {p.name for p in tmp_path.iterdir()} == {".env", "docs", "demo"}
