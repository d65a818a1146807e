"""`make demo` end to end: the sample filings ingested offline, one question answered in the
terminal, the cited page written as a PNG with its passage highlighted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rag.answer._highlight import HIGHLIGHT_FILL
from tests.demo import REPO

pytestmark = pytest.mark.e2e

ULTA_PAGE_3 = "ULTABEAUTY_2023Q4_EARNINGS-p3.png"


def highlighted_pixels(png: Path) -> int:
    """How many pixels show white paper under folio's highlight colour."""
    alpha = HIGHLIGHT_FILL[3] / 255
    want = [round(255 * (1 - alpha) + channel * alpha) for channel in HIGHLIGHT_FILL[:3]]
    with Image.open(png) as image:
        assert image.format == "PNG"
        pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    return int(np.all(np.abs(pixels - np.array(want, dtype=np.int16)) <= 4, axis=-1).sum())


def test_the_demo_answers_from_the_sample_filings_offline_citing_ulta_page_3(
    tmp_path: Path,
) -> None:
    # A bare environment, as on a newcomer's machine: no folio settings, an empty HOME (so no
    # Hugging Face cache and the random-CLIP fallback), a .env that must not be read.
    workdir = tmp_path / "demo"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    (tmp_path / ".env").write_text("DATABASE_URL=postgresql+asyncpg://nowhere/x\n")

    done = subprocess.run(
        [sys.executable, "-m", "tests.demo", "--workdir", str(workdir)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "tiny RANDOM CLIP" in out and "FOLIO_WEIGHT_CLIP=0" in out
    assert "$ folio ingest" in out and "8 added, 0 unchanged, 0 failed" in out
    assert "The $104.2 million increase was primarily due to the opening of 47 new stores" in out
    assert "[1] ULTABEAUTY_2023Q4_EARNINGS.pdf, page 3" in out
    png = workdir / "pages" / f"1-{ULTA_PAGE_3}"
    assert f"Open {png}" in out
    assert highlighted_pixels(png) > 5000
    assert not (tmp_path / "data").exists()  # only the throwaway dir was written
