"""Run a function on untrusted input in a fresh child process with time and memory limits.

The child is a new interpreter (never a fork: the parent may hold torch, threads and open
stores), started with ``-I`` and a scrubbed environment so it neither sees the parent's
secrets nor re-imports the parent's ``__main__``. Arguments and results travel through
pickle files in a private temporary directory, so a large result (page PNGs) cannot
deadlock a pipe. The parent waits on the event loop, kills the child's whole process
group at the deadline, and always removes the directory.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pickle
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any, TypeVar

from rag.errors import CorruptDocument, DocumentError, FolioError, ParseCrashed, ParseTimeout
from rag.ingest._child import IN_FILE, OUT_FILE

logger = logging.getLogger(__name__)

T = TypeVar("T")

_BOOTSTRAP = (
    "import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
    "from rag.ingest._child import main; main(sys.argv[2:])"
)
# Only what a parser may need; tokens and API keys stay in the parent.
_ENV_KEEP = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ")
_ERR_FILE = "stderr.txt"


async def run_isolated(
    fn: Callable[..., T], *args: Any, timeout_s: float, memory_mb: int, label: str
) -> T:
    """Run module-level ``fn(*args)`` in a child process; translate its failures to errors.

    Past ``timeout_s`` the child is killed and ParseTimeout is raised; a child that dies
    (signal, exit, out of memory under ``memory_mb``) raises ParseCrashed; a FolioError in
    the child is raised again here with its class and user_message; any other exception
    becomes CorruptDocument. ``label`` (usually the file name) names the input in messages.
    """
    name = getattr(fn, "__qualname__", type(fn).__name__)  # partials have no name
    workdir = Path(tempfile.mkdtemp(prefix="folio-isolate-"))
    started = time.monotonic()
    try:
        await asyncio.to_thread(_write_input, workdir, fn, args)
        returncode = await _run_child(workdir, timeout_s=timeout_s, memory_mb=memory_mb)
        if returncode is None:
            logger.warning("isolated %s stopped after %.1f s", name, timeout_s)
            raise ParseTimeout(
                f"{label} took longer than {timeout_s:g} s to read and was stopped; "
                "try a smaller or simpler file.",
                detail=f"{name} ran past {timeout_s:g} s",
            )
        outcome = await asyncio.to_thread(_read_outcome, workdir, returncode)
        result: T = _result(outcome, label=label, memory_mb=memory_mb)
        return result
    finally:
        logger.debug("isolated %s took %.2f s", name, time.monotonic() - started)
        shutil.rmtree(workdir, ignore_errors=True)


async def _run_child(workdir: Path, *, timeout_s: float, memory_mb: int) -> int | None:
    """Start the child and wait for it; None means it was killed at the deadline."""
    argv, env = _child_command(workdir, memory_mb, timeout_s)
    stderr = await asyncio.to_thread((workdir / _ERR_FILE).open, "wb")
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
            env=env,
            # Its own process group, so a kill also reaches anything the parser started.
            start_new_session=True,
        )
    finally:
        stderr.close()
    try:
        return await asyncio.wait_for(proc.wait(), timeout_s)
    except TimeoutError:
        return None
    finally:
        # The whole group, also after a normal exit: a converter the parser started
        # (LibreOffice) must not outlive it.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.returncode is None:
            # Reaped even when the caller was cancelled: no zombie outlives this call.
            await asyncio.shield(proc.wait())


def _child_command(
    workdir: Path, memory_mb: int, timeout_s: float
) -> tuple[list[str], dict[str, str]]:
    """The child's argv (the parent's import path, made absolute) and scrubbed environment."""
    paths = [os.path.abspath(p) if p else os.getcwd() for p in sys.path]
    argv = [sys.executable, "-I", "-c", _BOOTSTRAP, json.dumps(paths), str(workdir)]
    argv += [str(memory_mb), str(timeout_s)]
    env = {name: os.environ[name] for name in _ENV_KEEP if name in os.environ}
    return argv, env


def _write_input(workdir: Path, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    with (workdir / IN_FILE).open("wb") as f:
        pickle.dump((fn, args), f, protocol=pickle.HIGHEST_PROTOCOL)


def _read_outcome(workdir: Path, returncode: int) -> tuple[Any, ...]:
    """The child's outcome tuple, or a ("crash", why) tuple when it left none."""
    out = workdir / OUT_FILE
    if not out.exists():
        return ("crash", _exit_reason(returncode), _stderr_tail(workdir))
    try:
        with out.open("rb") as f:
            outcome: tuple[Any, ...] = pickle.load(f)
    except Exception as exc:  # a truncated or unloadable outcome is a crash
        return ("crash", f"unreadable outcome ({type(exc).__name__}: {exc})", "")
    return outcome


def _result(outcome: tuple[Any, ...], *, label: str, memory_mb: int) -> Any:
    status = outcome[0]
    if status == "ok":
        return outcome[1]
    if status == "folio":
        raise _rebuild(outcome[1], outcome[2], outcome[3])
    if status == "memory":
        logger.warning("isolated parse ran out of memory: %s", outcome[1])
        raise ParseCrashed(
            f"{label} needed more than {memory_mb} MB of memory to read and was stopped; "
            "try a smaller or simpler file.",
            detail=str(outcome[1]),
        )
    if status == "error":
        logger.warning("isolated parse failed: %s\n%s", outcome[1], outcome[2])
        raise CorruptDocument(
            f"folio could not read {label}; it may be damaged. "
            "Re-export or re-save it and share it again.",
            detail=str(outcome[1]),
        )
    logger.warning("isolated parse crashed: %s\n%s", outcome[1], outcome[2])
    raise ParseCrashed(
        f"folio's reader crashed on {label}; re-export it (for example, print it to a new "
        "PDF) and share it again.",
        detail=str(outcome[1]),
    )


def _rebuild(cls: type[FolioError], user_message: str, detail: str | None) -> FolioError:
    try:
        return cls(user_message, detail=detail)
    except TypeError:  # a subclass with another constructor: keep the message at least
        return DocumentError(user_message, detail=detail)


def _exit_reason(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with status {returncode} without a result"


def _stderr_tail(workdir: Path, limit: int = 2000) -> str:
    try:
        data = (workdir / _ERR_FILE).read_bytes()
    except OSError:
        return ""
    return data[-limit:].decode("utf-8", "replace")
