"""`folio eval`: the ranking metrics on hand-made rankings, the QA file reader, and a small
end-to-end run through the CLI on real PDFs."""

from __future__ import annotations

import io
import json
import math
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from rag._evaluate import Question, load_questions, run_questions, score_ranking
from rag.cli import run_cli
from rag.errors import ConfigError
from rag.types import PageHit
from tests.fakes import documents
from tests.fakes.services import base_env, use_env

DESIGN_KEYS = {"questions", "recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@5", "latency_ms"}


def keys(*pairs: tuple[str, int]) -> list[tuple[str, int]]:
    """A ranking of (file, page) pairs, as the retriever's pages give it."""
    return list(pairs)


def test_a_first_place_hit_scores_one_everywhere() -> None:
    scores = score_ranking(keys(("a.pdf", 3), ("b.pdf", 1)), {("a.pdf", 3)})
    assert scores == {
        "recall@1": 1.0,
        "recall@5": 1.0,
        "recall@10": 1.0,
        "mrr@10": 1.0,
        "ndcg@5": 1.0,
    }


def test_two_relevant_pages_at_ranks_three_and_five() -> None:
    ranked = keys(("a.pdf", 1), ("b.pdf", 2), ("a.pdf", 3), ("c.pdf", 1), ("a.pdf", 5))
    scores = score_ranking(ranked, {("a.pdf", 3), ("a.pdf", 5)})
    assert scores["recall@1"] == 0.0
    assert scores["recall@5"] == 1.0
    assert scores["recall@10"] == 1.0
    assert scores["mrr@10"] == pytest.approx(1 / 3)
    dcg = 1 / math.log2(4) + 1 / math.log2(6)
    ideal = 1 + 1 / math.log2(3)
    assert scores["ndcg@5"] == pytest.approx(dcg / ideal)
    assert scores["ndcg@5"] == pytest.approx(0.543771, abs=1e-6)


def test_one_of_two_relevant_pages_found_at_rank_seven() -> None:
    ranked = keys(*[("x.pdf", n) for n in range(1, 7)], ("a.pdf", 9), ("y.pdf", 1))
    scores = score_ranking(ranked, {("a.pdf", 9), ("a.pdf", 10)})
    assert scores == {
        "recall@1": 0.0,
        "recall@5": 0.0,
        "recall@10": 0.5,
        "mrr@10": pytest.approx(1 / 7),
        "ndcg@5": 0.0,
    }


def test_a_hit_is_the_file_name_and_page_together() -> None:
    scores = score_ranking(keys(("b.pdf", 3), ("a.pdf", 4)), {("a.pdf", 3)})
    assert scores["recall@10"] == 0.0 and scores["mrr@10"] == 0.0


def test_a_hit_past_rank_ten_counts_for_nothing() -> None:
    ranked = keys(*[("x.pdf", n) for n in range(1, 11)], ("a.pdf", 1))
    scores = score_ranking(ranked, {("a.pdf", 1)})
    assert scores["recall@10"] == 0.0 and scores["mrr@10"] == 0.0


def write_qa(path: Path, rows: list[dict[str, object]]) -> Path:
    """A JSON Lines QA file."""
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n", encoding="utf-8")
    return path


def test_load_questions_reads_the_financebench_format(tmp_path: Path) -> None:
    qa = write_qa(
        tmp_path / "qa.jsonl",
        [
            {
                "id": "fb-1",
                "question": "What drove the increase?",
                "answer": "New stores.",
                "doc": "ULTA.pdf",
                "pages": [3, 4],
                "evidence": ["..."],
            }
        ],
    )
    with qa.open("a", encoding="utf-8") as out:
        out.write("\n   \n")  # blank lines are skipped
    assert load_questions(qa) == [Question("fb-1", "What drove the increase?", "ULTA.pdf", (3, 4))]
    assert load_questions(qa)[0].relevant == {("ULTA.pdf", 3), ("ULTA.pdf", 4)}


@pytest.mark.parametrize(
    "bad_line",
    [
        "{not json",
        json.dumps({"id": 2, "question": "q?", "doc": "d.pdf"}),  # no pages
        json.dumps({"id": 2, "question": "q?", "doc": "d.pdf", "pages": ["three"]}),
        json.dumps(["a", "list"]),
    ],
)
def test_a_malformed_line_raises_config_error_naming_its_number(
    tmp_path: Path, bad_line: str
) -> None:
    good = json.dumps({"id": 1, "question": "q?", "doc": "d.pdf", "pages": [1]})
    qa = tmp_path / "qa.jsonl"
    qa.write_text(f"{good}\n{bad_line}\n{good}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_questions(qa)
    assert f"{qa} line 2 is not a valid QA row" in str(caught.value)


def test_a_line_without_evidence_pages_raises_config_error(tmp_path: Path) -> None:
    qa = write_qa(tmp_path / "qa.jsonl", [{"id": 1, "question": "q?", "doc": "d.pdf", "pages": []}])
    with pytest.raises(ConfigError) as caught:
        load_questions(qa)
    assert "line 1" in str(caught.value)


FILINGS = {
    "bakery.pdf": [
        "Village bakery accounts. Sourdough and rye loaves were sold every morning.",
        "The bakery oven was replaced in March by Hans Bergstrom for 8,900 euros.",
    ],
    "zoo.pdf": ["City zoo annual review: the two red pandas, Mika and Tao, were born in spring."],
    "harbour.pdf": ["Harbour authority: dredging of the north basin cost 1.2 million in 2021."],
}
QUESTIONS = [
    {"id": "q1", "question": "Who replaced the bakery oven?", "doc": "bakery.pdf", "pages": [2]},
    {"id": "q2", "question": "What are the red pandas called?", "doc": "zoo.pdf", "pages": [1]},
    {
        "id": "q3",
        "question": "What did dredging cost?",
        "doc": "harbour.pdf",
        "pages": [1],
    },
]


@pytest.mark.e2e
def test_folio_eval_prints_the_design_metrics_and_writes_eval_json(
    tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = tmp_path / "docs"
    (docs / "more").mkdir(parents=True)
    for name, pages in FILINGS.items():
        folder = docs / "more" if name == "harbour.pdf" else docs
        (folder / name).write_bytes(documents.text_pdf(pages))
    qa = write_qa(tmp_path / "qa.jsonl", [{**q, "answer": "", "evidence": []} for q in QUESTIONS])
    data_dir = tmp_path / "data"
    use_env(monkeypatch, base_env(data_dir, tiny_clip_dir, minilm_dir), tmp_path)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = run_cli(
            ["eval", "--qa", str(qa), "--docs", str(docs), "--out", str(tmp_path / "out")]
        )
    assert code == 0, err.getvalue()

    report = json.loads(out.getvalue())
    assert DESIGN_KEYS <= set(report)
    assert report["questions"] == 3
    assert set(report["latency_ms"]) == {"p50", "p95"}
    assert 0 < report["latency_ms"]["p50"] <= report["latency_ms"]["p95"]
    # Four pages in all: every evidence page is within the top 10.
    assert report["recall@10"] == report["recall@5"] == 1.0
    for name in ("recall@1", "mrr@10", "ndcg@5"):
        assert 0.0 < report[name] <= 1.0
    assert report["mrr@10"] >= report["recall@1"]

    written = json.loads((tmp_path / "out" / "eval.json").read_text(encoding="utf-8"))
    assert {k: v for k, v in written.items() if k != "per_question"} == report
    assert [row["id"] for row in written["per_question"]] == ["q1", "q2", "q3"]
    for row in written["per_question"]:
        assert row["ranked"] and all(len(key) == 2 for key in row["ranked"])
        assert row["rank"] is not None and row["top5"][row["rank"] - 1] in row["evidence"]
    assert not data_dir.exists()  # a fresh index, not the configured data dir


def page(file_name: str, number: int) -> PageHit:
    """A retrieved page without hits: all the eval reads is its file name and number."""
    return PageHit(
        document_id=file_name, file_name=file_name, page_number=number, score=0.0, hits=()
    )


async def test_the_report_lists_each_miss_with_its_evidence_rank_and_top_five() -> None:
    ranking = [page("x.pdf", n) for n in range(1, 7)] + [page("a.pdf", 9), page("b.pdf", 2)]

    async def search(question: str) -> list[PageHit]:
        return ranking if question.startswith("late") else ranking[6:]

    questions = [
        Question("late", "late evidence?", "a.pdf", (9,)),
        Question("first", "first place?", "a.pdf", (9,)),
        Question("absent", "late and absent?", "c.pdf", (1,)),
    ]
    report, rows = await run_questions(search, questions)

    assert [row["rank"] for row in rows] == [7, 1, None]
    assert rows[0]["evidence"] == ["a.pdf p.9"]
    assert rows[0]["top5"] == [f"x.pdf p.{n}" for n in range(1, 6)]
    assert rows[1]["top5"] == ["a.pdf p.9", "b.pdf p.2"]
    assert report["misses"] == [
        {"id": "late", "evidence": ["a.pdf p.9"], "rank": 7, "top5": rows[0]["top5"]},
        {"id": "absent", "evidence": ["c.pdf p.1"], "rank": None, "top5": rows[0]["top5"]},
    ]
