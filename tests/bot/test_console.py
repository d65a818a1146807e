"""The `folio` console script as a user runs it: output flushed, exit status kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.fakes.processes import REPO, RUN_FOLIO


def run_folio(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOLIO_", "DATABASE_URL"))}
    env.update(FOLIO_DATA_DIR=str(data_dir), PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-c", RUN_FOLIO, *args],
        cwd=data_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_finished_command_exits_with_its_status_and_all_its_output(tmp_path: Path) -> None:
    # The script leaves without the interpreter's teardown; what the command printed to a
    # pipe (block-buffered) still arrives, and the database it wrote is whole.
    done = run_folio("db", "upgrade", data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Database is at revision ")
    again = run_folio("db", "upgrade", data_dir=tmp_path)
    assert again.returncode == 0 and again.stdout == done.stdout


def test_a_failed_command_keeps_its_status_and_message(tmp_path: Path) -> None:
    # No model is configured here: a configuration error, status 2, one sentence.
    done = run_folio("ingest", str(tmp_path / "nothing-here"), data_dir=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("folio: FOLIO_CLIP_MODEL") and done.stderr.endswith(".\n")
