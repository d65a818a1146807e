"""Search at scale: folio's whole search step over 50k points in Qdrant Edge, and optimizes.

Builds random points shaped like folio's (clip 512, text 384, BM25 over a real-word
vocabulary, the real payload) and times the search step as an answer runs it: the
Retriever embeds the question (CLIP text tower of ViT-B/32 geometry, random weights,
and all-MiniLM-L6-v2), runs the permission-filtered hybrid query and groups by page.

  1. Edge, plain segments (as written);
  2. Edge during a background optimize (a copy optimized in a child process, swapped in
     when done): queries keep running, and the event loop's lag is sampled every 10 ms;
  3. Edge, optimized;
  4. for contrast, Edge's optimize() in a worker thread (how it ran before), at fewer
     points: qdrant-edge-py holds the GIL, so the event loop stalls for the whole run;
  5. qdrant-client's local mode with the same search step over the same points (brute
     force in Python: its query time grows linearly with the points), fewer questions.
Writes bench/reports/index_scale.json and index_scale.png.

    python -m bench.index_scale [--points 50000] [--local-points N] [--thread-points 10000]

The points are synthetic, shaped like folio's: random unit vectors of the real dimensions
and BM25 vectors over real query terms in a Zipf-ranked vocabulary. Embedding 50,000 real
passages with the real models would take hours on the 2-core machine; the search step's
cost depends on the points' count, dimensions and sparsity, not on what they mean.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from qdrant_client import AsyncQdrantClient

from bench.corpus import financebench
from bench.stats import percentiles
from rag.answer._retrieve import Retriever
from rag.embed import Bm25Encoder, ClipEmbedder, TextEmbedder
from rag.embed.sparse import term_id
from rag.index import IndexPoint, PointPayload, VectorDims, VectorIndex
from rag.index.edge import EdgeIndex
from rag.index.server import ServerIndex
from rag.settings import RetrievalConfig
from rag.types import Audience, PointKind, SparseVector

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "bench" / "reports"
QA = financebench() / "qa.jsonl"
TEAMS = ("T1", "T2", "T3")
CHANNELS = ("C1", "C2", "C3", "C4", "C5", "C6")
FILLER_WORDS = 20_000


def questions(count: int) -> list[str]:
    """financebench's questions when present, else templated finance questions."""
    found = []
    if QA.exists():
        found = [json.loads(line)["question"] for line in QA.read_text().splitlines() if line]
    topics = ("revenue", "operating margin", "capital expenditure", "inventory", "dividends")
    found += [f"How did {t} change in fiscal {2015 + i % 9}?" for i, t in enumerate(topics * 40)]
    return [found[i % len(found)] for i in range(count)]


def vocabulary(asked: list[str]) -> list[int]:
    """Term ids: the questions' own terms among filler words, so BM25 finds candidates."""
    bm25 = Bm25Encoder()
    real = list(dict.fromkeys(term for q in asked for term in bm25.tokenize(q)))
    filler = [term_id(f"w{n}") for n in range(FILLER_WORDS)]
    # Real terms spread through the Zipf ranks: some common, most rare.
    for rank, term in enumerate(real):
        filler.insert(min(len(filler), 3 + rank * 37), term_id(term))
    return filler


def build_points(count: int, dims: VectorDims, terms: list[int], seed: int = 7) -> list[IndexPoint]:
    """``count`` points: chunks (text + bm25), pages and figures (clip + text + bm25)."""
    rng = np.random.default_rng(seed)
    clip = _unit(rng, count, dims.clip)
    text = _unit(rng, count, dims.text)
    points = []
    for n in range(count):
        document = n // 50
        kind: PointKind = ("chunk", "chunk", "chunk", "page", "figure")[n % 5]
        payload = PointPayload(
            team_id=TEAMS[document % len(TEAMS)],
            channel_id=CHANNELS[document % len(CHANNELS)],
            channel_private=document % 5 == 0,
            document_id=f"doc-{document}",
            file_name=f"filing-{document}.pdf",
            page_number=1 + n % 50,
            kind=kind,
            text="lorem ipsum " * int(rng.integers(20, 60)),
        )
        points.append(
            IndexPoint(
                id=str(uuid.uuid4()),
                payload=payload,
                clip=clip[n].tolist() if kind != "chunk" else None,
                text=text[n].tolist(),
                bm25=_sparse(rng, terms),
            )
        )
    return points


def _sparse(rng: np.random.Generator, terms: list[int]) -> SparseVector:
    # Zipf-like ranks: a few common terms, a long tail, as in real text.
    ranks = np.minimum(rng.zipf(1.3, 40), len(terms)) - 1
    by_id: dict[int, float] = {}
    for rank, weight in zip(ranks, rng.uniform(0.5, 3.0, len(ranks)), strict=True):
        by_id[terms[rank]] = by_id.get(terms[rank], 0.0) + float(weight)
    ordered = sorted(by_id)
    return SparseVector(tuple(ordered), tuple(by_id[i] for i in ordered))


def _unit(rng: np.random.Generator, count: int, size: int) -> np.ndarray:
    vectors = rng.standard_normal((count, size)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class Searcher:
    """The search step of an answer: the Retriever over one index, timed per question."""

    def __init__(self, index: VectorIndex, clip: ClipEmbedder, text: TextEmbedder) -> None:
        config = RetrievalConfig()
        self._retriever = Retriever(
            index=index, clip=clip, text=text, bm25=Bm25Encoder(), config=config
        )

    async def one(self, question: str, n: int) -> tuple[float, list[tuple[str, int]]]:
        audience = Audience(TEAMS[n % len(TEAMS)], CHANNELS[n % len(CHANNELS)])
        started = time.perf_counter()
        pages = await self._retriever.search(question, audience=audience, limit=10)
        return (time.perf_counter() - started) * 1000, [
            (p.document_id, p.page_number) for p in pages
        ]

    async def many(self, asked: list[str]) -> tuple[dict[str, Any], list[list[tuple[str, int]]]]:
        """Every question in turn: wall-clock ms, and this process's CPU ms per search."""
        await self.one(asked[0], 0)  # warm-up
        latencies, cpu, rankings = [], [], []
        for n, question in enumerate(asked):
            # CPU time too: on a shared machine the wall clock also counts waiting for a
            # core; the CPU time is what the step costs, whatever else is running.
            used = time.process_time()
            ms, ranked = await self.one(question, n)
            cpu.append((time.process_time() - used) * 1000)
            latencies.append(ms)
            rankings.append(ranked)
        return {**percentiles(latencies), "cpu_ms": percentiles(cpu)}, rankings


async def lag_probe(stop: asyncio.Event, samples: list[tuple[float, float]], origin: float) -> None:
    """Sample the event loop's lag: how late a 10 ms sleep wakes up."""
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(0.01)
        samples.append((started - origin, (time.perf_counter() - started - 0.01) * 1000))


async def during(work: Any, searcher: Searcher | None, asked: list[str]) -> dict[str, Any]:
    """Run ``work`` while questions (if any) keep being asked and the loop's lag is sampled."""
    stop, lags, queries = asyncio.Event(), [], []
    origin = time.perf_counter()
    probe = asyncio.create_task(lag_probe(stop, lags, origin))

    async def ask() -> None:
        n = 0
        while not stop.is_set() and searcher is not None:
            ms, _ = await searcher.one(asked[n % len(asked)], n)
            queries.append((time.perf_counter() - origin, ms))
            n += 1
            await asyncio.sleep(0.05)

    asking = asyncio.create_task(ask())
    await work
    took = time.perf_counter() - origin
    stop.set()
    await asyncio.gather(probe, asking)
    result: dict[str, Any] = {
        "seconds": round(took, 1),
        "loop_lag_ms": percentiles([lag for _, lag in lags]),
    }
    if queries:
        result["search_ms"] = percentiles([ms for _, ms in queries])
    result["timeline"] = {
        "queries": [(round(t, 2), round(ms, 1)) for t, ms in queries],
        "lag": [(round(t, 2), round(ms, 1)) for t, ms in lags if ms > 5],
    }
    return result


async def bench_edge(
    points: list[IndexPoint],
    dims: VectorDims,
    models: tuple[ClipEmbedder, TextEmbedder],
    asked: list[str],
) -> dict[str, Any]:
    """Plain, during a background optimize, optimized."""
    with tempfile.TemporaryDirectory() as tmp:
        index = EdgeIndex(path=Path(tmp) / "qdrant", optimize_after=None)
        await index.open(dims)
        started = time.perf_counter()
        await index.upsert(points)
        upsert_s = time.perf_counter() - started
        searcher = Searcher(index, *models)
        plain, exact = await searcher.many(asked)
        print("edge plain", plain, flush=True)
        background = await during(index.optimize(), searcher, asked)
        print(
            "edge during optimize",
            {k: v for k, v in background.items() if k != "timeline"},
            flush=True,
        )
        optimized, approx = await searcher.many(asked)
        print("edge optimized", optimized, flush=True)
        count = await index.count()
        await index.close()
    return {
        "points": count,
        "upsert_s": round(upsert_s, 1),
        "search_ms_plain": plain,
        "background_optimize": background,
        "search_ms_optimized": optimized,
        "top10_page_overlap_optimized_vs_plain": _overlap(exact, approx),
    }


async def bench_thread_optimize(points: list[IndexPoint], dims: VectorDims) -> dict[str, Any]:
    """Edge's optimize() in a worker thread, as before: how long the event loop stalls."""
    with tempfile.TemporaryDirectory() as tmp:
        index = EdgeIndex(path=Path(tmp) / "qdrant", optimize_after=None)
        await index.open(dims)
        await index.upsert(points)
        result = await during(index._call(lambda shard: shard.optimize()), None, [])
        await index.close()
    return {"points": len(points), **result}


async def bench_local(
    points: list[IndexPoint],
    dims: VectorDims,
    models: tuple[ClipEmbedder, TextEmbedder],
    asked: list[str],
) -> dict[str, Any]:
    """The same search step through qdrant-client's in-process ':memory:' mode."""
    warnings.filterwarnings("ignore", message="Payload indexes have no effect in the local Qdrant")
    index = ServerIndex(client=AsyncQdrantClient(location=":memory:"), collection="bench")
    await index.open(dims)
    await index.upsert(points)
    latency, _ = await Searcher(index, *models).many(asked)
    count = await index.count()
    await index.close()
    return {"points": count, "search_ms": latency}


def _speedups(edge: dict[str, Any], local: dict[str, Any]) -> dict[str, float]:
    """local mode's search-step time over Edge's, plain and optimized, at p50 and p95."""
    return {
        f"{name}_{cut}": round(local["search_ms"][cut] / edge[key][cut], 1)
        for name, key in (("plain", "search_ms_plain"), ("optimized", "search_ms_optimized"))
        for cut in ("p50", "p95")
    }


def _overlap(exact: list[list[tuple[str, int]]], approx: list[list[tuple[str, int]]]) -> float:
    shares = [len(set(a) & set(e)) / len(e) for e, a in zip(exact, approx, strict=True) if e]
    return round(statistics.fmean(shares), 4) if shares else 1.0


def plot(report: dict[str, Any], path: Path) -> None:
    """Search-step latency per setting; queries and loop lag during the background optimize."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    edge, local = report["edge"], report["local_mode"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 4.8))
    runs = {
        f"Edge plain\n{edge['points']:,} pts": edge["search_ms_plain"],
        f"Edge, optimize\nrunning\n{edge['points']:,} pts": edge["background_optimize"][
            "search_ms"
        ],
        f"Edge optimized\n{edge['points']:,} pts": edge["search_ms_optimized"],
        f"local mode\n{local['points']:,} pts": local["search_ms"],
    }
    xs = np.arange(len(runs))
    left.bar(xs - 0.2, [r["p50"] for r in runs.values()], 0.4, label="p50")
    left.bar(xs + 0.2, [r["p95"] for r in runs.values()], 0.4, label="p95")
    left.axhline(100, color="grey", linestyle="--", linewidth=1, label="100 ms")
    left.set_xticks(xs, list(runs), fontsize=8)
    left.set_yscale("log")
    left.set_ylabel("ms per search step (log)")
    left.set_title("embed question + filtered hybrid query + group by page")
    left.legend()
    timeline = edge["background_optimize"]["timeline"]
    right.plot(
        *zip(*timeline["queries"], strict=True),
        ".",
        color="#2a7",
        label="search step, background optimize",
    )
    thread = report["thread_optimize"]
    if thread["timeline"]["lag"]:
        right.plot(
            *zip(*thread["timeline"]["lag"], strict=True),
            "x",
            color="#c63",
            label=f"loop lag, optimize in a thread ({thread['points']:,} pts)",
        )
    if timeline["lag"]:
        right.plot(
            *zip(*timeline["lag"], strict=True),
            "+",
            color="#36c",
            label="loop lag, background optimize",
        )
    right.set_yscale("log")
    right.set_xlabel("seconds since the optimize started")
    right.set_ylabel("ms (log)")
    right.set_title(
        f"during an optimize ({edge['background_optimize']['seconds']} s in a child process)"
    )
    right.legend(fontsize=8)
    fig.suptitle(f"folio search at scale, {report['machine']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


async def main() -> None:
    """Run every part and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=50_000)
    parser.add_argument(
        "--local-points", type=int, default=None, help="local mode's points (default: --points)"
    )
    parser.add_argument("--thread-points", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--local-queries", type=int, default=20)
    parser.add_argument("--out", type=Path, default=REPORTS)
    args = parser.parse_args()
    from bench.ingest import models

    clip_dir, text_dir = models()
    # Loaded as `folio serve` loads them: it embeds only questions itself, on torch (its
    # documents embed in a child on FOLIO_EMBED_BACKEND; see rag._services.load_models).
    clip = ClipEmbedder.load(str(clip_dir), backend="torch")
    text = TextEmbedder.load(str(text_dir), backend="torch")
    dims = VectorDims(clip=clip.dim, text=text.dim)
    asked = questions(args.queries)
    points = build_points(args.points, dims, vocabulary(asked))
    local_points = args.local_points or args.points
    load_before = os.getloadavg()
    edge = await bench_edge(points, dims, (clip, text), asked)
    thread = await bench_thread_optimize(points[: args.thread_points], dims)
    print("thread optimize", {k: v for k, v in thread.items() if k != "timeline"}, flush=True)
    local = await bench_local(
        points[:local_points], dims, (clip, text), asked[: args.local_queries]
    )
    print("local mode", local, flush=True)
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, shared",
        "load_average_before_after": [round(load_before[0], 1), round(os.getloadavg()[0], 1)],
        "models": "CLIP ViT-B/32 geometry (random weights) + all-MiniLM-L6-v2, "
        f"as folio serve loads them: clip on {clip.backend}, text on {text.backend}",
        "edge": edge,
        "thread_optimize": thread,
        "local_mode": local,
        "speedup_vs_local_mode": _speedups(edge, local),
        "notes": (
            f"local mode runs on {local_points:,} points, Edge on {args.points:,}; both "
            "through the same Retriever, in this one run. Synthetic points (random unit "
            "vectors of the real dimensions, BM25 over real query terms): embedding 50k real "
            "passages is too slow here. The optimize in a thread runs on fewer points to keep "
            "the stall short; its loop lag is the whole optimize."
        ),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "index_scale.json").write_text(json.dumps(report, indent=1) + "\n")
    plot(report, args.out / "index_scale.png")
    print(f"wrote {args.out / 'index_scale.json'} and index_scale.png")


if __name__ == "__main__":
    asyncio.run(main())
