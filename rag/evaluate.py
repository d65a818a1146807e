"""`folio eval`: ingest a corpus into a fresh index and measure page retrieval on a QA set."""

from __future__ import annotations

import asyncio
import json
import math
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rag.errors import ConfigError
from rag.files import expand_paths, read_file
from rag.settings import Settings
from rag.types import Audience, Scope

PageKey = tuple[str, int]
_SCOPE = Scope(team_id="eval", channel_id="eval")
_AUDIENCE = Audience(team_id="eval", channel_id="eval")


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
            questions.append(
                Question(
                    id=str(row["id"]),
                    question=str(row["question"]),
                    doc=str(row["doc"]),
                    pages=tuple(int(p) for p in row["pages"]),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                detail=f"{path} line {number} is not a valid QA row ({exc})."
            ) from exc
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


async def evaluate(
    settings: Settings, *, qa_path: Path, docs_dir: Path, out_dir: Path | None = None
) -> dict[str, Any]:
    """Ingest ``docs_dir`` into a fresh embedded index, ask every question, report metrics."""
    from rag.services import open_services

    questions = load_questions(qa_path)
    if not questions:
        raise ConfigError(detail=f"{qa_path} holds no questions.")
    with tempfile.TemporaryDirectory(prefix="folio-eval-") as tmp:
        fresh = replace(
            settings,
            data_dir=Path(tmp),
            database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'eval.db'}",
            qdrant_url=None,
        )
        async with open_services(fresh) as services:
            ingest_s = await _ingest_all(services.ingestor, docs_dir, settings.parse.max_bytes)
            rows, latencies = [], []
            for q in questions:
                started = time.perf_counter()
                pages = await services.retriever.search(q.question, audience=_AUDIENCE, limit=10)
                latencies.append((time.perf_counter() - started) * 1000)
                ranked = [(p.file_name, p.page_number) for p in pages]
                rows.append({"id": q.id, "ranked": ranked, **score_ranking(ranked, q.relevant)})
    report = _summary(rows, latencies, ingest_s)
    if out_dir is not None:
        await asyncio.to_thread(_write, out_dir / "eval.json", {**report, "per_question": rows})
    return report


def _write(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2), encoding="utf-8")


async def _ingest_all(ingestor: Any, docs_dir: Path, max_bytes: int) -> float:
    from tqdm import tqdm

    started = time.perf_counter()
    for path in tqdm(expand_paths([docs_dir]), unit="file", desc="ingest"):
        await ingestor.ingest(read_file(path, max_bytes), file_name=path.name, scope=_SCOPE)
    return time.perf_counter() - started


def _summary(rows: list[dict[str, Any]], latencies: list[float], ingest_s: float) -> dict[str, Any]:
    metrics = ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@5")
    report: dict[str, Any] = {"questions": len(rows)}
    for name in metrics:
        report[name] = round(statistics.fmean(row[name] for row in rows), 4)
    ordered = sorted(latencies)
    report["latency_ms"] = {
        "p50": round(statistics.median(ordered), 1),
        "p95": round(ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)], 1),
    }
    report["ingest_s"] = round(ingest_s, 1)
    return report
