"""parse_document with a ChildPool: one long-lived child for a batch's files, a fresh child
whenever that one fails, and the same messages as a one-shot child's."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest

import rag.ingest._parse as parse_module
from rag.errors import ParseTimeout
from rag.ingest._isolate import ChildPool, run_isolated
from rag.ingest._parse import _isolated, parse_document, parse_sync
from rag.settings import ParseLimits
from tests.fakes import child_tasks, documents


def oneshot_children(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The labels of the one-shot parse children started from now on, as they start."""
    started: list[str] = []

    async def counted(*args: Any, **kwargs: Any) -> Any:
        started.append(str(kwargs.get("label")))
        return await run_isolated(*args, **kwargs)

    monkeypatch.setattr(parse_module, "run_isolated", counted)
    return started


@pytest.fixture
async def pool() -> AsyncIterator[ChildPool]:
    pool = ChildPool(size=1, memory_mb=ParseLimits().memory_mb)
    yield pool
    await pool.close()


async def test_files_parse_one_after_another_in_the_pools_one_child(
    pool: ChildPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    oneshot = oneshot_children(monkeypatch)
    limits = ParseLimits()
    children = set()
    for n, text in enumerate(["Revenue rose.", "Margins fell.", "Cash grew."]):
        data = documents.text_pdf([text])
        parsed = await parse_document(data, f"{n}.pdf", limits, pool=pool)
        assert parsed.pages[0].text == parse_sync(data, f"{n}.pdf", limits).pages[0].text
        children.update(pool.pids)
    assert oneshot == []
    assert len(children) == 1


async def test_a_call_that_kills_the_pools_child_runs_again_in_a_fresh_child(
    pool: ChildPool,
) -> None:
    # Only a fresh child may say that a file crashed the reader: a long-lived one carries
    # what earlier files left behind.
    before = await pool.run(child_tasks.pid, timeout_s=30, label="x")
    limits = ParseLimits()
    pid = await _isolated(
        child_tasks.pid_unless_pooled, limits=limits, label="x.pdf", nice=0, pool=pool
    )
    assert pid != before
    assert before not in pool.pids  # the crashed child is gone; the next call starts one
    assert await pool.run(child_tasks.add, 1, 2, timeout_s=30, label="x") == 3


async def test_a_file_past_its_deadline_in_the_pool_reads_as_a_one_shot_childs_timeout(
    pool: ChildPool,
) -> None:
    limits = dataclasses.replace(ParseLimits(), timeout_s=1.5)
    with pytest.raises(ParseTimeout) as caught:
        await _isolated(child_tasks.sleep_forever, limits=limits, label="q3.pdf", nice=0, pool=pool)
    assert caught.value.user_message == (
        "q3.pdf took longer than 1.5 s to read and was stopped; try a smaller or simpler file."
    )
