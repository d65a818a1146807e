"""`folio eval`: ingest a corpus into a fresh index and measure page retrieval on a QA set."""

from __future__ import annotations

import asyncio
import json
import math
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import ConfigError, FolioError
from rag.ingest._files import expand_paths, read_file
from rag.settings import Settings
from rag.types import Audience, PageHit, Scope

if TYPE_CHECKING:
    from rag._services import Services
    from rag.answer._retrieve import Retriever
    from rag.ingest._ingestor import Ingestor

PageKey = tuple[str, int]
_SCOPE = Scope(team_id="eval", channel_id="eval")
AUDIENCE = Audience(team_id="eval", channel_id="eval")


@dataclass(frozen=True, slots=True)
class Question:
    """One line of a QA file: a question and the pages that hold its evidence."""

    id: str
    question: str
    doc: str
    pages: tuple[int, ...]

    @property
    def relevant(self) -> set[PageKey]:
        """The (file name, page) pairs that count as hits."""
        return {(self.doc, page) for page in self.pages}


def load_questions(path: Path) -> list[Question]:
    """Read a JSON Lines QA file; a malformed line raises ConfigError naming its number."""
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            question = Question(
                id=str(row["id"]),
                question=str(row["question"]),
                doc=str(row["doc"]),
                pages=tuple(int(p) for p in row["pages"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                detail=f"{path} line {number} is not a valid QA row ({exc})."
            ) from exc
        if not question.pages:
            raise ConfigError(detail=f"{path} line {number} names no evidence pages.")
        questions.append(question)
    return questions


def score_ranking(ranked: Sequence[PageKey], relevant: set[PageKey]) -> dict[str, float]:
    """recall@1/5/10, reciprocal rank within 10 and nDCG@5 of one ranked list of pages."""
    scores = {f"recall@{k}": len(set(ranked[:k]) & relevant) / len(relevant) for k in (1, 5, 10)}
    first = next((i for i, key in enumerate(ranked[:10], 1) if key in relevant), None)
    scores["mrr@10"] = 1.0 / first if first else 0.0
    dcg = sum(1 / math.log2(i + 1) for i, key in enumerate(ranked[:5], 1) if key in relevant)
    ideal = sum(1 / math.log2(i + 1) for i in range(1, min(len(relevant), 5) + 1))
    scores["ndcg@5"] = dcg / ideal
    return scores


Search = Callable[[str], Awaitable[list[PageHit]]]


async def evaluate(
    settings: Settings, *, qa_path: Path, docs_dir: Path, out_dir: Path | None = None
) -> dict[str, Any]:
    """Ingest ``docs_dir`` into a fresh embedded index, ask every question, report metrics.

    The report lists the misses (evidence not in the top 5); ``out_dir`` also gets
    eval.json with one row per question: the evidence's rank and the top 5 pages.
    """
    questions = load_questions(qa_path)
    async with fresh_services(settings) as services:
        ingest_s = await ingest_corpus(services.ingestor, docs_dir, settings.parse.max_bytes)
        report, rows = await run_questions(searcher(services.retriever), questions)
    report["ingest_s"] = round(ingest_s, 1)
    if out_dir is not None:
        await asyncio.to_thread(_write, out_dir / "eval.json", {**report, "per_question": rows})
    return report


@asynccontextmanager
async def fresh_services(settings: Settings) -> AsyncIterator[Services]:
    """Services over a throwaway SQLite database and embedded index, with the same models."""
    from rag._services import open_services

    with tempfile.TemporaryDirectory(prefix="folio-eval-") as tmp:
        fresh = replace(
            settings,
            data_dir=Path(tmp),
            database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'eval.db'}",
            qdrant_url=None,
        )
        async with open_services(fresh) as services:
            yield services


async def ingest_corpus(ingestor: Ingestor, docs_dir: Path, max_bytes: int) -> float:
    """Ingest every supported file under ``docs_dir`` for the eval audience; seconds taken."""
    from tqdm import tqdm

    files = expand_paths([docs_dir])
    if not files:
        raise ConfigError(detail=f"{docs_dir} holds no PDFs or images to evaluate on.")
    from rag.ingest._pipeline import IngestSource

    sources = [IngestSource(path.name, partial(read_file, path, max_bytes)) for path in files]
    started = time.perf_counter()
    with tqdm(total=len(files), unit="file", desc="ingest") as bar:
        async for _, result in ingestor.ingest_many(sources, scope=_SCOPE):
            if isinstance(result, FolioError):
                raise result
            bar.update()
    return time.perf_counter() - started


async def run_questions(
    search: Search, questions: Sequence[Question]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Ask every question through ``search``; the summary and one row per question."""
    if not questions:
        raise ConfigError(detail="The QA file holds no questions.")
    rows, latencies = [], []
    for q in questions:
        started = time.perf_counter()
        pages = await search(q.question)
        latencies.append((time.perf_counter() - started) * 1000)
        ranked = [(p.file_name, p.page_number) for p in pages]
        rows.append({**_diagnosis(q, ranked), **score_ranking(ranked, q.relevant)})
    return _summary(rows, latencies), rows


def _diagnosis(q: Question, ranked: list[PageKey]) -> dict[str, Any]:
    """What a reader needs to see why a question missed: where its evidence ranked, and
    which pages came first instead."""
    rank = next((i for i, key in enumerate(ranked, 1) if key in q.relevant), None)
    return {
        "id": q.id,
        "question": q.question,
        "evidence": [f"{q.doc} p.{page}" for page in q.pages],
        "rank": rank,
        "top5": [f"{name} p.{page}" for name, page in ranked[:5]],
        "ranked": ranked,
    }


def searcher(retriever: Retriever) -> Search:
    """``retriever`` asked as the eval audience, for the top 10 pages."""

    async def search(question: str) -> list[PageHit]:
        return await retriever.search(question, audience=AUDIENCE, limit=10)

    return search


def _write(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2), encoding="utf-8")


def _summary(rows: list[dict[str, Any]], latencies: list[float]) -> dict[str, Any]:
    metrics = ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@5")
    report: dict[str, Any] = {"questions": len(rows)}
    for name in metrics:
        report[name] = round(statistics.fmean(row[name] for row in rows), 4)
    # A miss is a question whose evidence is not in the top 5; its rank is None past 10.
    report["misses"] = [
        {key: row[key] for key in ("id", "evidence", "rank", "top5")}
        for row in rows
        if row["recall@5"] == 0.0
    ]
    ordered = sorted(latencies)
    report["latency_ms"] = {
        "p50": round(statistics.median(ordered), 1),
        "p95": round(ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)], 1),
    }
    return report
