"""bench.procs: resident memory by kind, read from /proc."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bench.procs import Memory, memory, parse_status, tree_memory, tree_rss_mb

_STATUS = """Name:\tpython
VmRSS:\t  1536000 kB
RssAnon:\t  1024000 kB
RssFile:\t   409600 kB
RssShmem:\t   102400 kB
Threads:\t12
"""


def test_status_splits_resident_memory_by_kind() -> None:
    found = parse_status(_STATUS)

    assert found == Memory(anon=1000.0, file=400.0, shmem=100.0)
    assert found.rss == 1500.0  # VmRSS: the kinds add up to it


def test_a_kernel_thread_has_no_resident_memory() -> None:
    assert parse_status("Name:\tkthreadd\nState:\tS (sleeping)\n") == Memory()


def test_a_process_that_is_gone_has_no_memory() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )

    assert memory(int(done.stdout)) == Memory()


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads Linux's /proc")
def test_the_tree_counts_a_childs_anonymous_memory() -> None:
    # The child holds 200 MB it wrote to (anonymous, resident) until its stdin closes.
    holder = (
        "b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096]); "
        "print(1, flush=True); input()"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "1"
        alone, tree, total = memory(os.getpid()), tree_memory(os.getpid()), tree_rss_mb(os.getpid())
    finally:
        child.communicate("\n")

    assert tree.anon - alone.anon >= 200
    assert total >= tree.anon + tree.file
