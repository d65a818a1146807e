"""Real `folio` processes for fault tests: started, paused, signalled and killed like a platform.

``FolioProcess.start("worker", env, log)`` runs ``folio worker`` (or ``serve``) from this
checkout in a child process whose output goes to a log file (read it with ``log_text``).
``folio_env`` builds its environment: the fake Slack, the tiny models, a data dir and a
database shared with the test. ``shared_database_url`` gives each test one database several
processes can open: a throwaway PostgreSQL database when FOLIO_TEST_DATABASE_URL is set,
else a migrated SQLite file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rag.db import upgrade_database
from tests.fakes.database import migrated_sqlite_url, postgres_base_url, throwaway_postgres_database
from tests.fakes.services import MODEL_CACHE

REPO = Path(__file__).resolve().parents[2]
BOT_TOKEN = "xoxb-folio-test-token"
SECRET = "folio-test-signing-secret"
RUN_FOLIO = "from bot.console import script; script()"


def folio_env(
    *,
    api_url: str,
    data_dir: Path,
    database_url: str,
    clip_dir: Path,
    text_dir: Path,
    index_channels: str,
    **extra: str,
) -> dict[str, str]:
    """The environment of a folio process pointed at the fake Slack and a shared database."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(data_dir.parent),
        "PYTHONPATH": str(REPO),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "FOLIO_DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url,
        "FOLIO_CLIP_MODEL": str(clip_dir),
        "FOLIO_TEXT_MODEL": str(text_dir),
        "FOLIO_MODEL_CACHE": str(MODEL_CACHE),
        "SLACK_API_URL": api_url,
        "FOLIO_SLACK_FILE_HOSTS": "127.0.0.1",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "FOLIO_INDEX_CHANNELS": index_channels,
        "FOLIO_PARSE_TIMEOUT_S": "60",
        "FOLIO_OCR": "off",
        **extra,
    }


@contextlib.contextmanager
def shared_database_url(tmp_path: Path) -> Iterator[str]:
    """A migrated database that several processes can open at once."""
    base = postgres_base_url()
    if base is None:
        yield migrated_sqlite_url(tmp_path)
        return
    with throwaway_postgres_database(base) as url:
        upgrade_database(url)
        yield url


@dataclass
class FolioProcess:
    """One running `folio` command."""

    process: asyncio.subprocess.Process
    log: Path

    @classmethod
    async def start(cls, command: str, env: dict[str, str], log: Path) -> FolioProcess:
        """Start ``folio COMMAND`` with ``env``; its output goes to ``log``."""
        with log.open("ab") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                RUN_FOLIO,
                command,
                env=env,
                cwd=str(log.parent),
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
        return cls(process, log)

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    def log_text(self) -> str:
        """Everything it logged so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` (SIGSTOP pauses it, SIGCONT resumes, SIGTERM asks it to stop)."""
        os.kill(self.process.pid, sig)

    async def wait(self, timeout: float) -> int:  # noqa: ASYNC109 - seconds, as tests read
        """Its exit code, waiting at most ``timeout`` seconds."""
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def wait_for_log(self, text: str, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until ``text`` appears in its log; TimeoutError with the log otherwise."""
        async with asyncio.timeout(timeout):
            while text not in self.log_text():
                if self.process.returncode is not None:
                    raise AssertionError(
                        f"folio exited before logging {text!r}:\n{self.log_text()}"
                    )
                await asyncio.sleep(0.1)

    async def close(self) -> None:
        """Make sure it is gone (SIGKILL if it still runs)."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()
