"""The child side of ``run_isolated`` and ``ChildPool``: limit resources, run functions.

Started as ``python -I -c <bootstrap> <sys.path json> <workdir> <memory_mb> <timeout_s> <nice>`` by
``rag.ingest._isolate``. It reads ``(fn, args)`` from ``workdir/in.pkl`` and writes one
outcome tuple to ``workdir/out.pkl``:

    ("ok", result)
    ("folio", error class, user_message, detail)
    ("memory", detail)
    ("error", "Type: message", traceback text)

A hard crash (signal, ``os._exit``) leaves no outcome; the parent reads the exit status.

A one-shot child (parsing, OCR: ingest work) runs at a lower CPU priority (``INGEST_NICE``
unless its parent asks for another), so the bot's event loop and its answers keep the cores
they need while a big file is read.

A pool child (``serve``, started with ``--serve <memory_mb> [<nice>]``) stays up and answers one
request at a time: each request and each outcome is a length-prefixed pickle on its stdin
and on the stdout it had at start (the libraries' own prints go to stderr instead). It
exits when its stdin closes, which is also what happens when the parent dies.
"""

from __future__ import annotations

import math
import os
import pickle
import resource
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

FRAME_HEADER = 8  # bytes of big-endian length before each pool request and reply
IN_FILE = "in.pkl"
_ORPHAN_GRACE_S = 10
OUT_FILE = "out.pkl"
# Ingest is throughput work; answering (and acking Slack) is latency work.
INGEST_NICE = 10
# Page renders for answers sit between the two: ahead of ingest, behind the bot's event
# loop, which acks Slack and must wake on time even when the renders fill both cores.
RENDER_NICE = 5


def main(argv: list[str]) -> None:
    """Entry point of the child process."""
    if argv[0] == "--serve":
        if len(argv) > 2:
            os.nice(int(argv[2]))
        serve(int(argv[1]))
        return
    os.nice(int(argv[3]) if len(argv) > 3 else INGEST_NICE)
    workdir = Path(argv[0])
    _limit_resources(int(argv[1]), float(argv[2]))
    _block_heavy_imports()
    outcome = _run(workdir / IN_FILE)
    _write(workdir / OUT_FILE, outcome)


def serve(memory_mb: int) -> None:
    """Answer requests from the parent until it closes stdin (a pool child)."""
    _limit_resources(memory_mb, None)
    _block_heavy_imports()
    requests = sys.stdin.buffer
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints must not corrupt replies
    while (request := _read_frame(requests)) is not None:
        payload = _dump(_answer(request))
        replies.write(len(payload).to_bytes(FRAME_HEADER, "big") + payload)
        replies.flush()


def _answer(request: bytes) -> tuple[Any, ...]:
    try:
        fn, args, timeout_s = pickle.loads(request)
    except BaseException as exc:  # noqa: B036 - every failure must reach the parent
        return ("error", _describe(exc), traceback.format_exc(limit=20))
    # Should the parent die mid-request, the alarm still stops a runaway call.
    signal.alarm(math.ceil(timeout_s) + _ORPHAN_GRACE_S)
    try:
        return _call(fn, args)
    finally:
        signal.alarm(0)


def _read_frame(stream: Any) -> bytes | None:
    header = stream.read(FRAME_HEADER)
    if len(header) < FRAME_HEADER:
        return None
    size = int.from_bytes(header, "big")
    body: bytes = stream.read(size)
    return body if len(body) == size else None


def _limit_resources(memory_mb: int, timeout_s: float | None) -> None:
    if memory_mb > 0:  # 0: no address-space limit (a child that loads models, not files)
        memory = memory_mb * 1024 * 1024
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            memory = min(memory, hard)
        resource.setrlimit(resource.RLIMIT_AS, (memory, hard))
    # A crash in a parser must not leave a core file the size of the address space.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # The parent kills the child at timeout_s; should the parent itself die first, the
    # alarm (whose default action ends the process) still stops the child soon after.
    if timeout_s is not None:
        signal.alarm(math.ceil(timeout_s) + _ORPHAN_GRACE_S)


def _block_heavy_imports() -> None:
    # PyMuPDF 2 eagerly imports these optional packages (an ONNX layout model: ~2.5 s and
    # ~400 MB of address space); a None entry makes the import fail fast, and PyMuPDF
    # treats that as "not installed". The child is one-shot, so the block can stay.
    for name in ("pymupdf.layout", "pymupdf4llm"):
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


def _run(in_path: Path) -> tuple[Any, ...]:
    try:
        with in_path.open("rb") as f:
            fn, args = pickle.load(f)
    except BaseException as exc:  # noqa: B036 - every failure must reach the parent
        return ("error", _describe(exc), traceback.format_exc(limit=20))
    return _call(fn, args)


def _call(fn: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    try:
        return ("ok", fn(*args))
    except MemoryError as exc:
        return ("memory", _describe(exc))
    except BaseException as exc:  # noqa: B036 - every failure must reach the parent
        from rag.errors import FolioError

        if isinstance(exc, FolioError):
            return ("folio", type(exc), exc.user_message, exc.detail)
        return ("error", _describe(exc), traceback.format_exc(limit=20))


def _dump(outcome: tuple[Any, ...]) -> bytes:
    try:
        return pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
    except MemoryError as exc:
        return pickle.dumps(("memory", _describe(exc)))
    except Exception as exc:  # an unpicklable result or error class
        return pickle.dumps(("error", _describe(exc), traceback.format_exc(limit=20)))


def _write(out_path: Path, outcome: tuple[Any, ...]) -> None:
    partial = out_path.with_suffix(".partial")
    payload = _dump(outcome)
    with partial.open("wb") as f:
        f.write(payload)
    # The rename makes a half-written outcome impossible to read as a whole one.
    os.replace(partial, out_path)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


if __name__ == "__main__":  # pragma: no cover - started through rag.ingest._isolate's bootstrap
    main(sys.argv[1:])
