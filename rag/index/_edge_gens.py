"""Generations of an Edge shard directory, and the child process that optimizes one.

qdrant-edge-py holds the GIL for the whole of ``optimize()`` (HNSW builds, merges, vacuum:
a minute at 50k points), so optimizing in-process stalls every thread, the event loop
included. Instead the shard is copied to the next generation's directory beside it
(``qdrant`` -> ``qdrant-opt1`` -> ``qdrant-opt2``...), a child process optimizes the copy
while the live shard keeps answering, and the optimized copy is swapped in. A pointer
file (``qdrant.current``) names the live generation; without one it is ``qdrant`` itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import sys
from contextlib import suppress
from pathlib import Path

logger = logging.getLogger(__name__)

_POINTER_SUFFIX = ".current"
# Distinct from the "-g<hex>" suffix of a model generation's own store (rag.db.generations):
# those are other shards beside this one, never its stale copies.
_GENERATION = r"-opt(\d+)"
# Lower priority, so queries in the serving process keep the CPU they need.
_OPTIMIZE = (
    "import os, sys, qdrant_edge as qe; os.nice(10); "
    "s = qe.EdgeShard.load(sys.argv[1]); s.optimize(); s.flush(); s.close()"
)
_ENV_KEEP = ("PATH", "LANG", "LC_ALL", "TMPDIR", "TZ")


def live_dir(root: Path) -> Path:
    """The directory of the live generation of the shard rooted at ``root``."""
    try:
        name = _pointer(root).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return root
    return root.with_name(name) if name else root


def next_dir(root: Path) -> Path:
    """A fresh directory for the generation after the live one."""
    match = re.fullmatch(re.escape(root.name) + _GENERATION, live_dir(root).name)
    number = int(match.group(1)) + 1 if match else 1
    return root.with_name(f"{root.name}-opt{number}")


def promote(root: Path, generation: Path) -> None:
    """Make ``generation`` the live one (atomically: a crash leaves one or the other)."""
    pointer = _pointer(root)
    partial = pointer.with_suffix(".partial")
    partial.write_text(generation.name, encoding="utf-8")
    os.replace(partial, pointer)


def stale_dirs(root: Path) -> list[Path]:
    """Generations that are not live: an optimize that crashed, or one swapped out."""
    live = live_dir(root)
    pattern = re.compile(re.escape(root.name) + f"({_GENERATION})?")
    return [
        path
        for path in root.parent.glob(f"{root.name}*")
        if path.is_dir() and path != live and pattern.fullmatch(path.name)
    ]


def remove(paths: list[Path]) -> None:
    """Delete generation directories, ignoring ones already gone."""
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)


async def optimize_in_child(generation: Path) -> bool:
    """Run Edge's optimizers on the shard copy at ``generation`` in a child; True if done."""
    env = {name: os.environ[name] for name in _ENV_KEEP if name in os.environ}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-I",
        "-c",
        _OPTIMIZE,
        str(generation),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        _, stderr = await proc.communicate()
    finally:
        if proc.returncode is None:  # cancelled: the index is closing
            with suppress(ProcessLookupError):
                proc.kill()
            await asyncio.shield(proc.wait())
    if proc.returncode != 0:
        tail = stderr.decode("utf-8", "replace")[-500:]
        logger.warning("edge optimize of %s failed (%s): %s", generation, proc.returncode, tail)
    return proc.returncode == 0


def _pointer(root: Path) -> Path:
    return root.with_name(root.name + _POINTER_SUFFIX)
