"""The text model's CPU backends on the same passages: speed and agreement with float32.

The passages are exactly what ``folio ingest`` embeds for the given documents; the
questions are the QA set's. For each backend: passages per CPU-second (this process's
user + system time, all of torch's threads), the lowest cosine of a passage's vector to
its float32 vector, and for each question how many of float32's top 5 passages it also
puts in its top 5. ``int8`` is torch's dynamic quantisation of every Linear layer, a
candidate measured here, not a setting folio offers; ``openvino-f32`` and ``openvino-bf16``
are FOLIO_EMBED_BACKEND=openvino with FOLIO_EMBED_PRECISION float32 and bfloat16 (the
export is cached under bench/out/model-cache, so its one-off cost is not in the rate).

    python -m bench.text_backends DOCS QA   # prints one JSON object
"""

from __future__ import annotations

import asyncio
import copy
import json
import resource
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

BACKENDS = ("float32", "bfloat16", "int8", "openvino-f32", "openvino-bf16")
CACHE = Path(__file__).resolve().parent / "out" / "model-cache"
_OPENVINO = {"openvino-f32": "float32", "openvino-bf16": "bfloat16"}


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def passages(docs: Path) -> list[str]:
    """The distinct texts ``folio ingest`` embeds for every file under ``docs``."""
    from rag.cli import load_settings
    from rag.ingest._files import expand_paths, read_file
    from rag.ingest._ingestor import embedding_inputs
    from rag.ingest._parse import parse_document

    limits = replace(load_settings().parse, visual_side=224)
    texts: list[str] = []
    for path in expand_paths([docs]):
        parsed = await parse_document(read_file(path, limits.max_bytes), path.name, limits)
        texts += embedding_inputs(path.name, parsed)[0]
    return list(dict.fromkeys(texts))


def _embedder(backend: str) -> Any:
    import torch

    from rag.cli import load_settings
    from rag.embed import TextEmbedder

    model = load_settings().text_model
    if backend in _OPENVINO:
        return TextEmbedder.load(
            model, precision=_OPENVINO[backend], backend="openvino", cache=CACHE
        )
    if backend != "int8":
        return TextEmbedder.load(model, precision=backend)  # type: ignore[arg-type]
    exact = TextEmbedder.load(model, precision="float32")
    quantized = torch.ao.quantization.quantize_dynamic(
        copy.deepcopy(exact._model), {torch.nn.Linear}, dtype=torch.qint8
    )
    # Its own fingerprint: int8 vectors are not the float32 weights' (never the same index).
    return type(exact)(
        model_name=model,
        model=quantized,
        gate=exact._gate,
        weights=f"{exact.weights}-int8",
        batch_size=exact.batch_size,
    )


async def compare(docs: Path, qa: Path) -> dict[str, Any]:
    """Each backend's speed and its agreement with float32, on the same inputs."""
    from rag._evaluate import load_questions

    texts = await passages(docs)
    questions = [q.question for q in load_questions(qa)]
    report: dict[str, Any] = {"passages": len(texts), "questions": len(questions)}
    reference: tuple[np.ndarray, np.ndarray] | None = None
    for backend in BACKENDS:
        embedder = _embedder(backend)
        await embedder.aembed(texts[:32])  # first-call set-up is not the rate
        started = _cpu_s()
        vectors = await embedder.aembed(texts)
        cpu_s = _cpu_s() - started
        asked = await embedder.aembed(questions)
        if reference is None:
            reference = (vectors, asked)
        report[backend] = {
            "cpu_s": round(cpu_s, 1),
            "passages_per_cpu_s": round(len(texts) / cpu_s, 1),
            **_agreement(reference, (vectors, asked)),
        }
        print(backend, json.dumps(report[backend]), file=sys.stderr, flush=True)
    return report


def _agreement(
    reference: tuple[np.ndarray, np.ndarray], got: tuple[np.ndarray, np.ndarray]
) -> dict[str, float]:
    cosine = np.sum(reference[0] * got[0], axis=1)
    overlaps = []
    for want_q, got_q in zip(reference[1], got[1], strict=True):
        want = set(np.argsort(-(reference[0] @ want_q))[:5])
        found = set(np.argsort(-(got[0] @ got_q))[:5])
        overlaps.append(len(want & found) / 5)
    return {
        "min_cosine_to_float32": round(float(cosine.min()), 4),
        "mean_top5_overlap": round(float(np.mean(overlaps)), 3),
        "min_top5_overlap": round(float(np.min(overlaps)), 3),
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(compare(Path(sys.argv[1]), Path(sys.argv[2])))))
