"""Encoders run by OpenVINO, exported once from the loaded torch weights and cached.

On a CPU with AVX512-BF16 but no AMX, torch's bfloat16 loses to its float32, while
OpenVINO's CPU plugin runs the same all-MiniLM-L6-v2 ~5x faster than torch float32 in
bfloat16 (passages per CPU-second, bench.text_backends) and ~2.5x in float32, at cosine
>= 0.9999 to torch float32. Nothing is downloaded: the torch module folio already loaded
is traced by ``openvino.convert_model`` and saved as IR under the cache folder, in a
subfolder named by its weights' fingerprint, OpenVINO's version and this export's format,
so a changed model (or OpenVINO) exports again and an unchanged one loads in a second.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.settings import Precision

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

# An export is used only when its vectors of a model's probe inputs are all within this
# cosine of torch float32's (measured in bfloat16: >= 0.9999 for all-MiniLM-L6-v2 and a
# ViT-B/32 CLIP; bench.text_backends checks the rankings on real passages).
AGREEMENT = 0.999

# Bump when what is exported changes (inputs, outputs, the wrapper), so caches re-export.
EXPORT_FORMAT = 2
_XML = "model.xml"


def available() -> bool:
    """True when the openvino package can be imported here."""
    return importlib.util.find_spec("openvino") is not None


def inference_precision(precision: Precision) -> str:
    """OpenVINO's CPU precision hint: bf16 where the CPU computes in it ("auto"), else f32."""
    if precision == "float32":
        return "f32"
    if precision == "bfloat16":
        return "bf16"
    import openvino as ov

    capabilities = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    return "bf16" if "BF16" in capabilities else "f32"


def export_folder(cache: Path, kind: str, fingerprint: str) -> Path:
    """Where the export of a model with this weights fingerprint lives under ``cache``."""
    import openvino as ov

    version = ov.__version__.split("-")[0]
    return cache / f"{kind}-{fingerprint}-openvino{version}-f{EXPORT_FORMAT}"


class CompiledEncoder:
    """One compiled OpenVINO model: named numpy inputs in, its first output out.

    Compiled for throughput: one stream per core, each a single thread, and a batch is
    split across them. A stream never waits for another, so a core taken by something
    else (the parse child, CLIP beside it) slows the model by that core's share only;
    one request over two threads waits at every layer for its slower thread and ran at
    about one core's speed beside a busy process (738 passages: 11.1 s against 6.8 s).
    """

    def __init__(self, compiled: Any, hint: str) -> None:
        self.hint = hint
        self._compiled = compiled
        self._names = [port.get_any_name() for port in compiled.inputs]
        streams = max(1, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
        self._requests = [compiled.create_infer_request() for _ in range(streams)]

    @property
    def input_names(self) -> list[str]:
        """The model's input names, in order."""
        return list(self._names)

    @property
    def streams(self) -> int:
        """How many parts of a batch run at once."""
        return len(self._requests)

    def __call__(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Run one batch, split by rows across the streams (callers serialise)."""
        rows = len(inputs[self._names[0]])
        parts = max(1, min(len(self._requests), rows))
        bounds = [rows * part // parts for part in range(parts + 1)]
        running = self._requests[:parts]
        for request, (start, stop) in zip(running, itertools.pairwise(bounds), strict=True):
            request.start_async(
                {name: np.ascontiguousarray(inputs[name][start:stop]) for name in self._names}
            )
        outputs = []
        for request in running:
            request.wait()
            outputs.append(np.array(request.get_output_tensor(0).data, dtype=np.float32))
        return np.concatenate(outputs)


def load_or_export(
    module: torch.nn.Module,
    example: Mapping[str, torch.Tensor],
    folder: Path,
    precision: Precision,
) -> CompiledEncoder:
    """Compile the cached export in ``folder``, exporting ``module`` there first if absent.

    ``example`` names the inputs (batch and sequence axes are left dynamic).
    """
    import openvino as ov

    xml = folder / _XML
    if not xml.exists():
        _export(module, example, folder)
    hint = inference_precision(precision)
    started = time.perf_counter()
    compiled = ov.Core().compile_model(
        str(xml), "CPU", {"INFERENCE_PRECISION_HINT": hint, "PERFORMANCE_HINT": "THROUGHPUT"}
    )
    logger.info("compiled %s (%s) in %.1f s", xml, hint, time.perf_counter() - started)
    return CompiledEncoder(compiled, hint)


def load_checked(
    module: torch.nn.Module,
    example: Mapping[str, torch.Tensor],
    folder: Path,
    precision: Precision,
    agreement: Callable[[CompiledEncoder], float],
) -> CompiledEncoder:
    """``load_or_export``, then ``agreement`` (the lowest cosine to torch float32) checked.

    Measured once per export and precision hint and kept beside the export; a ValueError
    when it is under AGREEMENT.
    """
    compiled = load_or_export(module, example, folder, precision)
    record = folder / f"agreement-{compiled.hint}.json"
    if record.exists():
        cosine = float(json.loads(record.read_text())["min_cosine"])
    else:
        cosine = agreement(compiled)
        record.write_text(json.dumps({"min_cosine": cosine}))
    if cosine < AGREEMENT:
        raise ValueError(f"its vectors are at cosine {cosine:.4f} to torch's, under {AGREEMENT}")
    logger.info("%s runs on OpenVINO (%s), cosine %.5f", folder.name, compiled.hint, cosine)
    return compiled


def _export(module: torch.nn.Module, example: Mapping[str, torch.Tensor], folder: Path) -> None:
    """Trace ``module`` and save its IR into ``folder`` atomically (a rename)."""
    import openvino as ov
    import torch

    started = time.perf_counter()
    shapes = [(name, [-1] * tensor.dim(), _ov_type(tensor)) for name, tensor in example.items()]
    # Tracing warns about every data-dependent branch it freezes (and that torch.jit.trace
    # is deprecated); the export is checked against torch instead (see AGREEMENT).
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        converted = ov.convert_model(module, example_input=dict(example), input=shapes)
    # The tracer does not always keep the names (a lone input comes out numbered).
    for port, name in zip(converted.inputs, example, strict=True):
        port.get_tensor().set_names({name})
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Exported beside its final place and renamed, so a reader never sees half an export
    # and two processes exporting at once both end with a whole one.
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        ov.save_model(converted, str(staging / _XML), compress_to_fp16=False)
        try:
            os.rename(staging, folder)
        except OSError:
            if not (folder / _XML).exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("exported %s to OpenVINO in %.1f s", folder.name, time.perf_counter() - started)


def _ov_type(tensor: torch.Tensor) -> Any:
    import openvino as ov
    import torch

    types = {torch.int64: ov.Type.i64, torch.int32: ov.Type.i32, torch.float32: ov.Type.f32}
    return types[tensor.dtype]
