"""The `folio` command, run in-process through rag.cli.run_cli with the environment a shell would
give it: real models (tiny CLIP, MiniLM), Qdrant Edge and SQLite under a temp data dir.

The module ingests one small folder once; the tests then search, list, ask and forget in it.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from rag.answer._citations import EXTRACTIVE_LABEL
from rag.cli import run_cli
from rag.db.migrate import current_revision, head_revision
from tests.fakes import documents
from tests.fakes.services import base_env, use_env

pytestmark = pytest.mark.e2e

PAGES = {
    "bakery.pdf": [
        "Village bakery accounts. Sourdough and rye loaves were sold every morning.",
        "The bakery oven was replaced in March by Hans Bergstrom for 8,900 euros.",
    ],
    "zoo.pdf": ["City zoo annual review: the two red pandas, Mika and Tao, were born in spring."],
    "lighthouse.pdf": ["In 1987 the lighthouse keeper logged 412 storms."],
}


@dataclass(frozen=True)
class Run:
    """What one `folio` invocation returned and printed."""

    code: int
    out: str
    err: str


def folio(*args: str) -> Run:
    """Run `folio ARGS...` in this process, capturing what it prints."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = run_cli(list(args))
    return Run(code, out.getvalue(), err.getvalue())


@dataclass(frozen=True)
class Corpus:
    """A data dir with PAGES ingested by `folio ingest`, and how that run went."""

    root: Path
    env: dict[str, str]
    ingest: Run


@pytest.fixture(scope="module")
def corpus(
    tmp_path_factory: pytest.TempPathFactory, tiny_clip_dir: Path, minilm_dir: Path
) -> Iterator[Corpus]:
    """`folio ingest docs/` over a folder tree: bakery.pdf, a/zoo.pdf, a/b/lighthouse.pdf."""
    root = tmp_path_factory.mktemp("cli")
    docs = root / "docs"
    (docs / "a" / "b").mkdir(parents=True)
    (docs / "bakery.pdf").write_bytes(documents.text_pdf(PAGES["bakery.pdf"]))
    (docs / "a" / "zoo.pdf").write_bytes(documents.text_pdf(PAGES["zoo.pdf"]))
    (docs / "a" / "b" / "lighthouse.pdf").write_bytes(documents.text_pdf(PAGES["lighthouse.pdf"]))
    (docs / "a" / "notes.txt").write_text("not a document folio reads", encoding="utf-8")
    env = base_env(root / "data", tiny_clip_dir, minilm_dir)
    with pytest.MonkeyPatch.context() as patch:
        use_env(patch, env, root)
        run = folio("ingest", str(docs))
    yield Corpus(root, env, run)


@pytest.fixture
def in_corpus(corpus: Corpus, monkeypatch: pytest.MonkeyPatch) -> Corpus:
    """The corpus's environment, from its folder."""
    use_env(monkeypatch, corpus.env, corpus.root)
    return corpus


def test_ingest_recurses_folders_prints_each_file_and_exits_0(corpus: Corpus) -> None:
    run = corpus.ingest
    assert run.code == 0, run
    assert "✓ bakery.pdf: indexed, 2 pages, 0 figures" in run.out
    assert "✓ zoo.pdf: indexed, 1 pages" in run.out
    assert "✓ lighthouse.pdf: indexed, 1 pages" in run.out
    assert "notes.txt" not in run.out + run.err
    assert run.out.strip().endswith("3 added, 0 unchanged, 0 failed")


def test_ingest_of_the_same_files_again_adds_nothing(in_corpus: Corpus) -> None:
    run = folio("ingest", str(in_corpus.root / "docs"))
    assert run.code == 0
    assert "✓ bakery.pdf: already indexed, 2 pages" in run.out
    assert run.out.strip().endswith("0 added, 3 unchanged, 0 failed")


def test_a_bad_file_in_a_folder_is_one_sentence_exit_1_and_the_others_are_indexed(
    in_corpus: Corpus,
) -> None:
    folder = in_corpus.root / "mixed"
    folder.mkdir()
    (folder / "locked.pdf").write_bytes(documents.encrypted_pdf())
    (folder / "q3.pdf").write_bytes(documents.html_renamed_pdf())
    (folder / "minutes.pdf").write_bytes(documents.text_pdf(["Minutes of the harbour board."]))
    run = folio("ingest", str(folder), "--channel", "CMIXED", "--private")
    assert run.code == 1
    locked = (
        f"✗ {folder / 'locked.pdf'}: locked.pdf is password-protected; upload an unlocked copy."
    )
    assert locked in run.out.splitlines()
    assert re.search(
        r"^✗ .*q3\.pdf: q3\.pdf is not a PDF \(it looks like a web page", run.out, re.M
    )
    assert "✓ minutes.pdf: indexed, 1 pages" in run.out
    assert run.out.strip().endswith("1 added, 0 unchanged, 2 failed")
    assert "Traceback" not in run.out + run.err
    docs = folio("docs", "--channel", "CMIXED")
    assert "minutes.pdf" in docs.out and "(private)" in docs.out
    assert "locked.pdf" not in docs.out and "q3.pdf" not in docs.out


def test_search_prints_ranked_file_page_score_lines(in_corpus: Corpus) -> None:
    run = folio("search", "Who replaced the bakery oven?")
    assert run.code == 0
    ranked = re.findall(r"^\s*(\d+)\. (\S+)  p\.(\d+)  score (\d\.\d{4})$", run.out, re.M)
    assert ranked[0][1:3] == ("bakery.pdf", "2")
    assert [int(rank) for rank, *_ in ranked] == list(range(1, len(ranked) + 1))
    scores = [float(score) for *_, score in ranked]
    assert scores == sorted(scores, reverse=True)
    assert "oven was replaced in March" in run.out  # the snippet under the top page
    assert {(name, page) for _, name, page, _ in ranked} >= {
        ("bakery.pdf", "1"),
        ("zoo.pdf", "1"),
        ("lighthouse.pdf", "1"),
    }


def test_search_with_only_an_image_lists_the_picture_first(in_corpus: Corpus) -> None:
    picture = in_corpus.root / "query.png"
    picture.write_bytes(documents.picture())
    scan = in_corpus.root / "scans"
    scan.mkdir()
    (scan / "diagram.png").write_bytes(documents.picture())
    assert folio("ingest", str(scan), "--channel", "CSCAN", "--private").code == 0
    run = folio("search", "", "--image", str(picture), "--channel", "CSCAN")
    assert run.code == 0
    assert re.search(r"^\s*1\. diagram\.png  p\.1  score", run.out, re.M), run.out


def test_docs_lists_the_indexed_documents(in_corpus: Corpus) -> None:
    run = folio("docs")
    assert run.code == 0
    for name, pages in PAGES.items():
        assert re.search(
            rf"^[0-9a-f]{{8}}  {re.escape(name)}  {len(pages)} pages  local$", run.out, re.M
        )


def test_docs_in_another_workspace_lists_nothing(in_corpus: Corpus) -> None:
    run = folio("docs", "--team", "T-OTHER")
    assert run.code == 0
    assert run.out.strip() == "No documents indexed yet; add some with `folio ingest PATH`."


def test_forget_by_file_name_removes_it_from_docs_and_search(in_corpus: Corpus) -> None:
    scratch = in_corpus.root / "scratch.pdf"
    scratch.write_bytes(documents.text_pdf(["Scratch notes about walrus migration."]))
    assert folio("ingest", str(scratch)).code == 0
    assert "scratch.pdf" in folio("docs").out

    run = folio("forget", "scratch.pdf")
    assert run.code == 0
    assert re.fullmatch(r"Forgot scratch\.pdf \([0-9a-f]{8}\)\.\n", run.out)
    assert "scratch.pdf" not in folio("docs").out
    assert "scratch.pdf" not in folio("search", "walrus migration").out
    again = folio("forget", "scratch.pdf")
    assert again.code == 1
    assert again.err == "folio: No indexed document matches 'scratch.pdf'.\n"


def test_ask_without_a_key_prints_an_extractive_answer_and_writes_the_cited_pages(
    in_corpus: Corpus,
) -> None:
    out_dir = in_corpus.root / "answer"
    run = folio("ask", "Who replaced the bakery oven?", "--out", str(out_dir))
    assert run.code == 0, run
    assert run.out.startswith(EXTRACTIVE_LABEL)
    assert "oven was replaced in March by Hans Bergstrom" in run.out
    assert re.search(r"” \[1\]$", run.out, re.M)
    assert "\nSources:\n" in run.out
    sources = re.findall(r"^  \[(\d+)\] (\S+), page (\d+)$", run.out, re.M)
    assert ("1", "bakery.pdf", "2") in sources
    written = sorted(out_dir.glob("*.png"))
    assert len(written) == len(sources)
    assert (out_dir / "1-bakery-p2.png") in written
    for path in written:
        assert f"      wrote {path}" in run.out
        with Image.open(path) as image:
            assert image.format == "PNG"
            image.verify()


def test_db_upgrade_migrates_a_fresh_data_dir_to_head(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_env(monkeypatch, {**corpus.env, "FOLIO_DATA_DIR": str(tmp_path / "fresh")}, tmp_path)
    run = folio("db", "upgrade")
    assert run.code == 0, run
    assert run.out == f"Database is at revision {head_revision()}.\n"
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh' / 'folio.db'}"
    assert asyncio.run(current_revision(url)) == head_revision()


def test_doctor_passes_every_check_with_the_local_models(in_corpus: Corpus) -> None:
    run = folio("doctor")
    assert run.code == 0, run
    lines = run.out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "✓ configuration",
        "✓ database",
        "✓ CLIP model",
        "✓ text model",
        "✓ vector store",
    ]
    assert "extractive answers" in lines[0]
    assert re.search(r"✓ vector store: reachable, \d+ points", run.out)


def test_doctor_fails_in_one_sentence_when_the_clip_folder_is_missing(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-model"
    use_env(monkeypatch, {**corpus.env, "FOLIO_CLIP_MODEL": str(missing)}, tmp_path)
    run = folio("doctor")
    assert run.code == 1
    failed = [line for line in run.out.splitlines() if line.startswith("✗")]
    assert len(failed) == 1
    assert failed[0].startswith(f"✗ CLIP model: FOLIO_CLIP_MODEL points at {missing}, which")
    assert str(missing) in failed[0]
    assert "vector store" not in run.out  # not checked without the model's dimensions
    assert "Traceback" not in run.out + run.err


def test_a_bad_setting_exits_2_with_one_sentence_on_stderr(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_env(monkeypatch, {**corpus.env, "PORT": "abc"}, tmp_path)
    run = folio("docs")
    assert run.code == 2
    assert run.out == ""
    assert run.err == "folio: PORT must be a number, not 'abc'.\n"


def test_a_bad_setting_in_the_env_file_exits_2_too(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_env(monkeypatch, corpus.env, tmp_path)
    (tmp_path / ".env").write_text("FOLIO_TOP_K=0\n", encoding="utf-8")
    run = folio("docs")
    assert run.code == 2
    assert run.err == "folio: FOLIO_TOP_K must be between 1 and 50, not 0.\n"
