"""A model change re-indexes: detected with equal sizes, rebuilt resumably, switched at once.

Two tiny random CLIPs of the same geometry (seeds 0 and 1) stand for a model swap that
dimension checks cannot see. Everything runs through the real code: open_services, the
reindex use case and the `folio` command, Qdrant Edge and SQLite under a temporary data dir.
"""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import qdrant_edge as qe

from rag._reindex import reindex
from rag._services import open_services
from rag.embed import ClipEmbedder
from rag.errors import StaleIndex
from rag.index import VectorDims
from rag.index.edge import _edge_config
from rag.ingest._ingestor import _point_id
from rag.ingest._parse import parse_sync
from rag.settings import ParseLimits, Settings
from rag.types import Audience, Scope
from tests.fakes import documents
from tests.fakes.services import base_env, ingest, use_env
from tests.fakes.tiny_clip import build_tiny_clip

SCOPE = Scope("T1", "C1")
AUDIENCE = Audience("T1", "C1")
BAKERY = "The bakery oven was replaced in March by Hans Bergstrom for 8,900 euros."


@pytest.fixture(scope="module")
def other_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second tiny CLIP: the same sizes as ``tiny_clip_dir``, other weights."""
    return build_tiny_clip(tmp_path_factory.mktemp("tiny-clip-b"), seed=1)


def settings(data: Path, clip: Path, minilm: Path) -> Settings:
    return Settings.from_env(base_env(data, clip, minilm))


async def clip_vector(data_dir: Path, store: Path, point_id: str) -> list[float]:
    """The CLIP vector stored for a point, read straight from the Edge shard."""
    shard = qe.EdgeShard.load(str(store), _edge_config(VectorDims(clip=32, text=384)))
    try:
        (point,) = shard.retrieve([point_id], False, True)
        return list(point.vector["clip"])
    finally:
        shard.close()


async def test_a_swapped_model_of_equal_size_is_stale_until_reindexed_and_resumes(
    tmp_path: Path, tiny_clip_dir: Path, other_clip_dir: Path, minilm_dir: Path
) -> None:
    old = settings(tmp_path / "data", tiny_clip_dir, minilm_dir)
    new = settings(tmp_path / "data", other_clip_dir, minilm_dir)
    picture = documents.picture()
    async with open_services(old) as services:
        await ingest(services, documents.text_pdf(["Bakery accounts.", BAKERY]), "b.pdf", SCOPE)
        shot = await ingest(services, picture, "chart.png", SCOPE)

    with pytest.raises(StaleIndex) as caught:
        async with open_services(new):
            pass
    assert "run `folio reindex`" in (caught.value.detail or "")
    assert str(tiny_clip_dir) in (caught.value.detail or "")

    class Interrupted(Exception):
        pass

    def stop_after_one(done: int, total: int, name: str) -> None:
        if done == 1:
            raise Interrupted

    with pytest.raises(Interrupted):
        await reindex(new, progress=stop_after_one)

    # Half-way: the old models still answer from the old vectors; the new ones still wait.
    async with open_services(old) as services:
        pages = await services.retriever.search("Who replaced the oven?", audience=AUDIENCE)
        assert (pages[0].file_name, pages[0].page_number) == ("b.pdf", 2)
    with pytest.raises(StaleIndex):
        async with open_services(new):
            pass

    seen: list[tuple[int, int]] = []
    report = await reindex(new, progress=lambda done, total, name: seen.append((done, total)))
    assert (report.rebuilt, report.total, report.switched) == (1, 2, True)
    assert seen[0] == (1, 2)  # resumed after the document done before the interruption

    async with open_services(new) as services:
        pages = await services.retriever.search("Who replaced the oven?", audience=AUDIENCE)
        assert (pages[0].file_name, pages[0].page_number) == ("b.pdf", 2)
    stores = sorted(p.name for p in (tmp_path / "data").iterdir() if p.name.startswith("qdrant"))
    assert len(stores) == 1 and stores[0].startswith("qdrant-g")  # the old store is gone

    render = parse_sync(picture, "chart.png", ParseLimits()).pages[0].render_png
    stored = np.array(
        await clip_vector(
            tmp_path, tmp_path / "data" / stores[0], _point_id(shot.document.id, "page/1")
        )
    )
    made_by_new = (await ClipEmbedder.load(str(other_clip_dir)).aembed_images([render]))[0]
    made_by_old = (await ClipEmbedder.load(str(tiny_clip_dir)).aembed_images([render]))[0]
    assert np.allclose(stored, made_by_new, atol=1e-5)
    assert not np.allclose(stored, made_by_old, atol=1e-3)

    with pytest.raises(StaleIndex):  # and back again: the old models are now the stale ones
        async with open_services(old):
            pass


def folio(*args: str) -> tuple[int, str, str]:
    """The `folio` console script (the Slack adapter's, for `serve`), run in this process."""
    from bot.console import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_folio_serve_on_a_stale_index_names_the_command_and_reindex_fixes_it(
    tmp_path: Path,
    tiny_clip_dir: Path,
    other_clip_dir: Path,
    minilm_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bakery.pdf").write_bytes(documents.text_pdf(["Bakery accounts.", BAKERY]))
    (docs / "zoo.md").write_text("# Zoo\n\nTwo red pandas, Mika and Tao, were born in spring.\n")
    env = base_env(tmp_path / "data", tiny_clip_dir, minilm_dir)
    use_env(monkeypatch, env, tmp_path)
    assert folio("ingest", str(docs))[0] == 0

    slack = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "secret"}
    use_env(monkeypatch, {**env, **slack, "FOLIO_CLIP_MODEL": str(other_clip_dir)}, tmp_path)
    code, out, err = folio("serve")
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "run `folio reindex` to rebuild it" in lines[0], err

    code, out, err = folio("reindex")
    assert code == 0, err
    assert f"Switched to CLIP {other_clip_dir}" in out
    assert "2 documents, 2 rebuilt." in out

    code, out, _ = folio("search", "Who replaced the bakery oven?")
    assert code == 0 and out.splitlines()[0].split()[1:3] == ["bakery.pdf", "p."]

    code, out, _ = folio("reindex")
    assert code == 0 and "Up to date with" in out and "2 documents, 0 rebuilt." in out
