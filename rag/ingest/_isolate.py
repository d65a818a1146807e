"""Run a function on untrusted input in a fresh child process with time and memory limits.

The child is a new interpreter (never a fork: the parent may hold torch, threads and open
stores), started with ``-I`` and a scrubbed environment so it neither sees the parent's
secrets nor re-imports the parent's ``__main__``. Arguments and results travel through
pickle files in a private temporary directory, so a large result (page PNGs) cannot
deadlock a pipe. The parent waits on the event loop, kills the child's whole process
group at the deadline, and always removes the directory.

``ChildPool`` keeps a few such children running for work that comes often and must not
pay an interpreter start each time (page renders): one request at a time per child, the
same limits, and a child that runs past its deadline or dies is killed and replaced.
One-shot children run niced (ingest work beside a server) unless the caller says otherwise;
a pool's children at the pool's ``nice``.
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
from rag.ingest._child import FRAME_HEADER, IN_FILE, INGEST_NICE, OUT_FILE

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
    fn: Callable[..., T],
    *args: Any,
    timeout_s: float,
    memory_mb: int,
    label: str,
    nice: int = INGEST_NICE,
) -> T:
    """Run module-level ``fn(*args)`` in a child process; translate its failures to errors.

    Past ``timeout_s`` the child is killed and ParseTimeout is raised; a child that dies
    (signal, exit, out of memory under ``memory_mb``) raises ParseCrashed; a FolioError in
    the child is raised again here with its class and user_message; any other exception
    becomes CorruptDocument. ``label`` (usually the file name) names the input in messages.
    ``nice`` is added to this process's niceness in the child.
    """
    name = getattr(fn, "__qualname__", type(fn).__name__)  # partials have no name
    workdir = Path(tempfile.mkdtemp(prefix="folio-isolate-"))
    started = time.monotonic()
    try:
        await asyncio.to_thread(_write_input, workdir, fn, args)
        returncode = await _run_child(workdir, timeout_s=timeout_s, memory_mb=memory_mb, nice=nice)
        if returncode is None:
            logger.warning("isolated %s stopped after %.1f s", name, timeout_s)
            raise read_timeout(label, timeout_s, detail=f"{name} ran past {timeout_s:g} s")
        outcome = await asyncio.to_thread(_read_outcome, workdir, returncode)
        result: T = _result(outcome, label=label, memory_mb=memory_mb)
        return result
    finally:
        logger.debug("isolated %s took %.2f s", name, time.monotonic() - started)
        shutil.rmtree(workdir, ignore_errors=True)


def read_timeout(label: str, timeout_s: float, *, detail: str | None) -> ParseTimeout:
    """The error for a file that took longer than ``timeout_s`` to read."""
    return ParseTimeout(
        f"{label} took longer than {timeout_s:g} s to read and was stopped; "
        "try a smaller or simpler file.",
        detail=detail,
    )


async def _run_child(workdir: Path, *, timeout_s: float, memory_mb: int, nice: int) -> int | None:
    """Start the child and wait for it; None means it was killed at the deadline."""
    argv, env = _child_command(workdir, memory_mb, timeout_s, nice)
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
    workdir: Path, memory_mb: int, timeout_s: float, nice: int
) -> tuple[list[str], dict[str, str]]:
    """The child's argv (the parent's import path, made absolute) and scrubbed environment."""
    argv = _interpreter() + [str(workdir), str(memory_mb), str(timeout_s), str(nice)]
    return argv, _scrubbed_env()


def _interpreter() -> list[str]:
    """A fresh isolated interpreter that imports rag as the parent does."""
    paths = [os.path.abspath(p) if p else os.getcwd() for p in sys.path]
    return [sys.executable, "-I", "-c", _BOOTSTRAP, json.dumps(paths)]


def _scrubbed_env(keep: tuple[str, ...] = ()) -> dict[str, str]:
    return {name: os.environ[name] for name in (*_ENV_KEEP, *keep) if name in os.environ}


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


class ChildPool:
    """Up to ``size`` long-lived isolated children that run module-level functions.

    Children start on first use and stay up between calls. A call that runs past its
    deadline, or is cancelled, kills its child (and anything it started); the next call
    starts a fresh one. Failures are translated as in ``run_isolated``. ``memory_mb`` 0
    sets no address-space limit (for a child that loads models, not untrusted files).
    ``nice`` lowers the children's CPU priority (for throughput work beside a server);
    ``renice`` lowers it further later.
    """

    def __init__(
        self, *, size: int, memory_mb: int, keep_env: tuple[str, ...] = (), nice: int = 0
    ) -> None:
        self._memory_mb = memory_mb
        self._nice = nice
        self._keep_env = keep_env  # more variables the children see (model caches)
        self._slots = asyncio.Semaphore(size)
        self._idle: list[asyncio.subprocess.Process] = []
        self._busy: set[asyncio.subprocess.Process] = set()

    async def run(self, fn: Callable[..., T], *args: Any, timeout_s: float, label: str) -> T:
        """``fn(*args)`` in a pool child; ParseTimeout past ``timeout_s``."""
        request = pickle.dumps((fn, args, timeout_s), protocol=pickle.HIGHEST_PROTOCOL)
        async with self._slots:
            child = self._idle.pop() if self._idle else await self._start()
            self._busy.add(child)
            reusable = False
            try:
                reply = await asyncio.wait_for(_exchange(child, request), timeout_s)
                if reply is None:  # it died mid-request
                    returncode = await child.wait()
                    outcome: tuple[Any, ...] = ("crash", _exit_reason(returncode), "")
                else:
                    outcome = pickle.loads(reply)
                    reusable = outcome[0] in ("ok", "folio", "error")
            except TimeoutError:
                logger.warning("pooled %s stopped after %.1f s", _name(fn), timeout_s)
                raise ParseTimeout(
                    f"{label} took longer than {timeout_s:g} s and was stopped.",
                    detail=f"{_name(fn)} ran past {timeout_s:g} s",
                ) from None
            finally:
                self._busy.discard(child)
                if reusable:
                    self._idle.append(child)
                else:
                    await _stop(child)
            result: T = _result(outcome, label=label, memory_mb=self._memory_mb)
            return result

    def renice(self, nice: int) -> None:
        """Run the children at ``nice`` over this process's niceness from now on (not less)."""
        self._nice = max(self._nice, nice)
        priority = os.getpriority(os.PRIO_PROCESS, 0) + self._nice
        for child in (*self._idle, *self._busy):
            with suppress(ProcessLookupError, PermissionError):
                os.setpriority(os.PRIO_PROCESS, child.pid, priority)

    @property
    def pids(self) -> list[int]:
        """The process ids of the children running now."""
        return sorted(child.pid for child in (*self._idle, *self._busy))

    async def close(self) -> None:
        """Stop every child (idle ones and, should any remain, busy ones)."""
        children = [*self._idle, *self._busy]
        self._idle.clear()
        await asyncio.gather(*(_stop(child) for child in children))

    async def _start(self) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            *_interpreter(),
            "--serve",
            str(self._memory_mb),
            str(self._nice),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=_scrubbed_env(self._keep_env),
            start_new_session=True,
        )


async def _exchange(child: asyncio.subprocess.Process, request: bytes) -> bytes | None:
    """Send one request and read its reply; None when the child is gone."""
    assert child.stdin is not None and child.stdout is not None
    try:
        child.stdin.write(len(request).to_bytes(FRAME_HEADER, "big") + request)
        await child.stdin.drain()
        header = await child.stdout.readexactly(FRAME_HEADER)
        return await child.stdout.readexactly(int.from_bytes(header, "big"))
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


async def _stop(child: asyncio.subprocess.Process) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)
    if child.returncode is None:
        await asyncio.shield(child.wait())


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", type(fn).__name__)
