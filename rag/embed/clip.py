"""CLIP embeddings for page renders, figures, query images and short query texts."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from PIL import Image

from rag._images import MAX_PICTURE_PIXELS, MAX_RENDER_SIDE, read_picture
from rag.embed import _openvino
from rag.embed._fingerprint import weights_fingerprint
from rag.embed._shared import ModelGate, load_failure, model_dtype, quiet_progress_bars
from rag.errors import ConfigError
from rag.settings import Backend, Precision

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

_ENV_VAR = "FOLIO_CLIP_MODEL"
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class _ClipParts:
    """One loaded CLIP checkpoint, shared by every embedder of that model in the process."""

    model: Any
    tokenizer: Any
    processor: Any
    max_tokens: int
    dim: int
    gate: ModelGate
    dtype: torch.dtype
    input_side: int | None
    # The fingerprint of the weights as loaded, before any cast (see ClipEmbedder.weights).
    weights: str
    # The vision tower's OpenVINO export, when it runs there (texts stay on torch; the
    # torch tower is dropped then).
    vision: _openvino.CompiledEncoder | None = None


_PARTS: dict[tuple[str, Precision, Backend], _ClipParts] = {}
_EMBEDDERS: dict[tuple[str, int, Precision, Backend], ClipEmbedder] = {}
_LOAD_LOCK = threading.Lock()


class ClipEmbedder:
    """Embeds images and texts into CLIP's shared space as unit-length float32 vectors."""

    dim: int
    model_name: str

    def __init__(self, *, model_name: str, parts: _ClipParts, batch_size: int = 16) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.model_name = model_name
        self.dim = parts.dim
        self.batch_size = batch_size
        self._parts = parts

    @property
    def input_side(self) -> int | None:
        """The shortest side (px) CLIP's processor shrinks a picture to, bicubic; None if other.

        A parser that shrinks its renders the same way hands over the very pixels the
        processor would make, in a fraction of the bytes (see ``ParseLimits.visual_side``).
        """
        return self._parts.input_side

    @property
    def backend(self) -> str:
        """What runs the vision tower: "torch", or "openvino" with its precision hint."""
        vision = self._parts.vision
        return "torch" if vision is None else f"openvino-{vision.hint}"

    @classmethod
    def load(
        cls,
        model: str,
        *,
        batch_size: int = 16,
        precision: Precision = "auto",
        backend: Backend = "torch",
        cache: Path | None = None,
    ) -> ClipEmbedder:
        """Load (once per process) the CLIP model at a hub id or local folder.

        ``precision`` "auto" runs torch in bfloat16 where the CPU has AMX (see model_dtype).
        ``backend`` runs the vision tower as TextEmbedder.load runs the text model.
        """
        key = (model, batch_size, precision, backend)
        with _LOAD_LOCK:
            embedder = _EMBEDDERS.get(key)
            if embedder is None:
                parts = _PARTS.get((model, precision, backend))
                if parts is None:
                    parts = _load_parts(model, precision, backend, cache or Path("data/models"))
                    _PARTS[(model, precision, backend)] = parts
                embedder = _EMBEDDERS[key] = cls(
                    model_name=model, parts=parts, batch_size=batch_size
                )
            return embedder

    @cached_property
    def weights(self) -> str:
        """A fingerprint of the loaded weights: which model made a vector (see _fingerprint).

        Taken from the weights as loaded, before any cast to bfloat16; with the vision
        tower on OpenVINO it is the same: the export agrees with the float32 weights within
        AGREEMENT, so processes on different backends or CPUs share one index.
        """
        return self._parts.weights

    async def aembed_images(self, images: Sequence[bytes]) -> np.ndarray:
        """PNG/JPEG bytes -> (n, dim) unit vectors, off the event loop, a batch at a time.

        Unreadable bytes raise CorruptDocument.
        """
        return await self._run_async(list(images), self._image_batch)

    async def aembed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts -> (n, dim) unit vectors, off the event loop; each cut to CLIP's 77 tokens."""
        return await self._run_async(list(texts), self._text_batch)

    # The model is taken per batch, not per call, so a short query embedding waits for at
    # most one batch of a long ingestion instead of the whole document.
    async def _run_async(
        self, items: list[_T], run: Callable[[list[_T]], np.ndarray]
    ) -> np.ndarray:
        started = time.perf_counter()
        gate = self._parts.gate
        parts = [await gate.arun(partial(run, batch)) for batch in self._batches(items)]
        return self._joined(parts, started)

    def _batches(self, items: list[_T]) -> list[list[_T]]:
        """Full batches, then the rest in batches of powers of two (16, 8, 4, 2, 1).

        torch (oneDNN) keeps what it builds for each batch size it has run; a document's
        last batch of any size from 1 to 15 added a shape now and then, and ~3 MB of
        memory kept with it (financebench: RssAnon +21 MB over seven files; +9 split).
        """
        batches, start = [], 0
        while start < len(items):
            size = min(self.batch_size, 1 << ((len(items) - start).bit_length() - 1))
            batches.append(items[start : start + size])
            start += size
        return batches

    def _joined(self, parts: list[np.ndarray], started: float) -> np.ndarray:
        if not parts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = np.concatenate(parts)
        elapsed_ms = 1000 * (time.perf_counter() - started)
        logger.debug("clip embedded %d inputs in %.0f ms", len(vectors), elapsed_ms)
        return vectors

    def _image_batch(self, images: list[bytes]) -> np.ndarray:
        import torch

        # Decoded per batch so a long document never holds all its renders decoded at once.
        decoded = [_decode_image(data) for data in images]
        pixels = self._parts.processor(images=decoded, return_tensors="pt")["pixel_values"]
        if self._parts.vision is not None:
            features = self._parts.vision({"pixel_values": pixels.numpy()})
            return _unit_rows(torch.from_numpy(features))
        pixels = pixels.to(self._parts.dtype)
        with torch.inference_mode():
            output = self._parts.model.get_image_features(pixel_values=pixels)
        return _unit_rows(output.pooler_output)

    def _text_batch(self, texts: list[str]) -> np.ndarray:
        import torch

        tokens = self._parts.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self._parts.max_tokens,
            return_tensors="pt",
        )
        with torch.inference_mode():
            output = self._parts.model.get_text_features(
                input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]
            )
        return _unit_rows(output.pooler_output)


def _unit_rows(features: torch.Tensor) -> np.ndarray:
    """L2-normalise each row and hand it back as float32 numpy."""
    import torch

    unit = torch.nn.functional.normalize(features.float(), dim=-1)
    return unit.numpy().astype(np.float32, copy=False)


def _decode_image(data: bytes) -> Image.Image:
    """Bytes -> upright RGB on white, as every picture is read (CorruptDocument if it cannot be)."""
    # Page renders are at most MAX_RENDER_SIDE already, so indexing leaves them untouched.
    return read_picture(
        data, "That image", max_pixels=MAX_PICTURE_PIXELS, max_side=MAX_RENDER_SIDE
    ).image


def _load_parts(model: str, precision: Precision, backend: Backend, cache: Path) -> _ClipParts:
    """The model's parts, its vision tower on OpenVINO when ``backend`` is "openvino".

    "auto" keeps CLIP on torch: OpenVINO's float32 ViT-B/32 holds ~600 MB where torch's
    tower holds 350 MB (serve's RSS budget is 1.5 GB), and its bfloat16 (390 MB, 49 vs
    torch's 7 images per CPU-second) moved a random-weight CLIP's near ties in the
    ingest bench (recall@1 0.5 to 0.375).
    """
    if backend != "openvino":
        return _load_torch_parts(model, precision)
    # Exported from float32 weights; OpenVINO applies the precision itself.
    parts = _load_torch_parts(model, "float32")
    try:
        vision = _export_vision(parts, parts.weights, precision, cache)
    except Exception as exc:  # noqa: BLE001 - any export failure is reported
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")
        raise ConfigError(
            detail=f"FOLIO_EMBED_BACKEND=openvino could not run {model!r} ({reason}); "
            "install openvino or set it to torch."
        ) from exc
    _drop_vision_tower(parts.model)
    return replace(parts, vision=vision)


def _drop_vision_tower(clip: Any) -> None:
    """Free the torch vision tower the export replaces (~350 MB for ViT-B/32)."""
    import torch

    clip.vision_model = torch.nn.Identity()
    clip.visual_projection = torch.nn.Identity()


def _export_vision(
    parts: _ClipParts, weights: str, precision: Precision, cache: Path
) -> _openvino.CompiledEncoder:
    """Compile (exporting once) CLIP's vision tower; raise unless it agrees with torch.

    ``auto`` precision is float32 here (see _load_parts); OpenVINO float32 ran ViT-B/32
    at ~25 images per CPU-second against torch's ~7 on this CPU.
    """
    import torch

    if not _openvino.available():
        raise RuntimeError("the openvino package is not installed")
    folder = _openvino.export_folder(cache, "clip-vision", weights)
    pixels = parts.processor(images=_probe_images(), return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        reference = _unit_rows(parts.model.get_image_features(pixel_values=pixels).pooler_output)

    def agreement(compiled: _openvino.CompiledEncoder) -> float:
        got = _unit_rows(torch.from_numpy(compiled({"pixel_values": pixels.numpy()})))
        return float(np.min(np.sum(reference * got, axis=1)))

    return _openvino.load_checked(
        _vision_module(parts.model).eval(),
        {"pixel_values": pixels[:1]},
        folder,
        "float32" if precision == "auto" else precision,
        agreement,
    )


def _probe_images() -> list[Image.Image]:
    """Pictures the export is checked on: a page of text lines, a gradient, seeded noise."""
    page = Image.new("RGB", (170, 220), (255, 255, 255))
    for y in range(20, 200, 12):
        page.paste((30, 30, 30), (15, y, 150 - (y % 50), y + 5))
    ramp = np.linspace(0, 255, 224).astype(np.uint8)
    across, down = np.meshgrid(ramp, ramp[::-1])
    gradient = Image.fromarray(np.stack([across, down, across // 2 + down // 2], axis=-1))
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (96, 128, 3), np.uint8))
    return [page, gradient, noise]


def _vision_module(model: Any) -> Any:
    import torch

    class VisionFeatures(torch.nn.Module):
        """CLIP's image features (projected, not normalised) from pixel values."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
            features: torch.Tensor = self.model.get_image_features(
                pixel_values=pixel_values
            ).pooler_output
            return features

    return VisionFeatures()


def _load_torch_parts(model: str, precision: Precision) -> _ClipParts:
    """Load model, tokenizer and PIL image processor; any failure names FOLIO_CLIP_MODEL."""
    # Imported here so importing rag (or just BM25) never pays for torch's start-up.
    from transformers import AutoConfig, CLIPImageProcessorPil, CLIPModel, CLIPTokenizer

    quiet_progress_bars()
    started = time.perf_counter()
    try:
        config = AutoConfig.from_pretrained(model)
        if config.model_type != "clip":
            raise ConfigError(detail=_load_failure(model, f"it is a {config.model_type!r} model"))
        # Typed loosely: transformers' stubs leave config attributes optional.
        clip: Any = CLIPModel.from_pretrained(model)
        tokenizer = CLIPTokenizer.from_pretrained(model)
        processor = CLIPImageProcessorPil.from_pretrained(model)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(detail=_load_failure(model, str(exc).splitlines()[0])) from exc
    weights = weights_fingerprint(clip)  # as loaded: the same whatever dtype it runs in
    dtype = model_dtype(precision)
    clip.to(dtype).eval()
    text_window = int(clip.config.text_config.max_position_embeddings)
    logger.info(
        "loaded CLIP model %s (dim %d, %s) in %.1f s",
        model,
        clip.config.projection_dim,
        dtype,
        time.perf_counter() - started,
    )
    return _ClipParts(
        model=clip,
        tokenizer=tokenizer,
        processor=processor,
        max_tokens=min(text_window, int(tokenizer.model_max_length)),
        dim=int(clip.config.projection_dim),
        gate=ModelGate(),
        dtype=dtype,
        input_side=_shortest_edge(processor),
        weights=weights,
    )


def configured_input_side(model: str) -> int | None:
    """``input_side`` as a local model folder's processor config states it, without loading.

    A guess for work that starts before the model loads (``folio ingest`` parses its first
    files meanwhile); whoever uses it checks it against the loaded ``input_side``.
    """
    path = Path(model) / "preprocessor_config.json"
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    size = config.get("size")
    side = size.get("shortest_edge") if isinstance(size, dict) else None
    return _bicubic_side(config.get("do_resize"), config.get("resample"), side)


def _shortest_edge(processor: Any) -> int | None:
    """The processor's resize target when it is "shortest edge to N px, bicubic"."""
    # transformers 5 keeps sizes in a SizeDict (attributes); older releases in a dict.
    size = getattr(processor, "size", None)
    side = size.get("shortest_edge") if isinstance(size, dict) else None
    side = getattr(size, "shortest_edge", side)
    return _bicubic_side(
        getattr(processor, "do_resize", False), getattr(processor, "resample", None), side
    )


def _bicubic_side(do_resize: Any, resample: Any, side: Any) -> int | None:
    """``side`` when a processor resizes its shortest side to it, bicubic; else None."""
    bicubic = resample is not None and int(resample) == int(Image.Resampling.BICUBIC)
    if not do_resize or not bicubic or not isinstance(side, int) or not side:
        return None
    return side


def _load_failure(model: str, reason: str) -> str:
    return load_failure(_ENV_VAR, model, "CLIP model", reason)
