"""Process-tree memory for benchmarks, read from /proc (Linux).

Resident memory comes in kinds (``/proc/<pid>/status``): anonymous pages (the heaps: what
a process allocated), file-backed pages (mapped libraries, models and index files, which
the kernel can drop and read again) and shared memory. A process that keeps memory it
no longer needs grows in anonymous pages; one that maps a growing index grows in
file-backed ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

_FIELDS = {"RssAnon": "anon", "RssFile": "file", "RssShmem": "shmem"}


@dataclass(frozen=True, slots=True)
class Memory:
    """Resident memory by kind, in MB."""

    anon: float = 0.0
    file: float = 0.0
    shmem: float = 0.0

    @property
    def rss(self) -> float:
        """All resident memory (what VmRSS says)."""
        return self.anon + self.file + self.shmem

    def __add__(self, other: Memory) -> Memory:
        return Memory(self.anon + other.anon, self.file + other.file, self.shmem + other.shmem)


def parse_status(text: str) -> Memory:
    """The resident memory a ``/proc/<pid>/status`` text reports (zeros for a kernel thread)."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name in _FIELDS:
            found[_FIELDS[name]] = int(value.split()[0]) / 1024  # kB
    return Memory(**found)


def memory(pid: int) -> Memory:
    """Resident memory of ``pid`` alone (zeros where /proc or the process is absent)."""
    try:
        return parse_status(Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return Memory()


def tree_memory(pid: int) -> Memory:
    """Resident memory of ``pid`` and all its descendants, summed."""
    total = Memory()
    for member in tree_pids(pid):
        total += memory(member)
    return total


def tree_pids(pid: int) -> list[int]:
    """``pid`` and its descendants (only ``pid`` where /proc is absent)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, ()))
    return found


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants, in MB (0 where /proc is absent)."""
    return tree_memory(pid).rss


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` alone, in MB (0 where /proc is absent)."""
    return memory(pid).rss
