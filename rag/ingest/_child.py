"""The child side of ``run_isolated``: limit resources, run one function, write the outcome.

Started as ``python -I -c <bootstrap> <sys.path json> <workdir> <memory_mb> <timeout_s>`` by
``rag.ingest._isolate``. It reads ``(fn, args)`` from ``workdir/in.pkl`` and writes one
outcome tuple to ``workdir/out.pkl``:

    ("ok", result)
    ("folio", error class, user_message, detail)
    ("memory", detail)
    ("error", "Type: message", traceback text)

A hard crash (signal, ``os._exit``) leaves no outcome; the parent reads the exit status.
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

IN_FILE = "in.pkl"
_ORPHAN_GRACE_S = 10
OUT_FILE = "out.pkl"


def main(argv: list[str]) -> None:
    """Entry point of the child process."""
    workdir = Path(argv[0])
    _limit_resources(int(argv[1]), float(argv[2]))
    _block_heavy_imports()
    outcome = _run(workdir / IN_FILE)
    _write(workdir / OUT_FILE, outcome)


def _limit_resources(memory_mb: int, timeout_s: float) -> None:
    memory = memory_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        memory = min(memory, hard)
    resource.setrlimit(resource.RLIMIT_AS, (memory, hard))
    # A crash in a parser must not leave a core file the size of the address space.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # The parent kills the child at timeout_s; should the parent itself die first, the
    # alarm (whose default action ends the process) still stops the child soon after.
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
        return ("ok", fn(*args))
    except MemoryError as exc:
        return ("memory", _describe(exc))
    except BaseException as exc:  # noqa: B036 - every failure must reach the parent
        from rag.errors import FolioError

        if isinstance(exc, FolioError):
            return ("folio", type(exc), exc.user_message, exc.detail)
        return ("error", _describe(exc), traceback.format_exc(limit=20))


def _write(out_path: Path, outcome: tuple[Any, ...]) -> None:
    partial = out_path.with_suffix(".partial")
    try:
        payload = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
    except MemoryError as exc:
        payload = pickle.dumps(("memory", _describe(exc)))
    except Exception as exc:  # an unpicklable result or error class
        payload = pickle.dumps(("error", _describe(exc), traceback.format_exc(limit=20)))
    with partial.open("wb") as f:
        f.write(payload)
    # The rename makes a half-written outcome impossible to read as a whole one.
    os.replace(partial, out_path)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


if __name__ == "__main__":  # pragma: no cover - started through rag.ingest._isolate's bootstrap
    main(sys.argv[1:])
