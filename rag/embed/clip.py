"""CLIP embeddings for page renders, figures, query images and short query texts."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from PIL import Image

from rag._images import MAX_PICTURE_PIXELS, MAX_RENDER_SIDE, read_picture
from rag.embed._fingerprint import weights_fingerprint
from rag.embed._shared import ModelGate, load_failure, model_dtype, quiet_progress_bars
from rag.errors import ConfigError
from rag.settings import Precision

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


_PARTS: dict[tuple[str, Precision], _ClipParts] = {}
_EMBEDDERS: dict[tuple[str, int, Precision], ClipEmbedder] = {}
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

    @classmethod
    def load(
        cls, model: str, *, batch_size: int = 16, precision: Precision = "auto"
    ) -> ClipEmbedder:
        """Load (once per process) the CLIP model at a hub id or local folder.

        ``precision`` "auto" runs it in bfloat16 where the CPU has AMX (see model_dtype).
        """
        key = (model, batch_size, precision)
        with _LOAD_LOCK:
            embedder = _EMBEDDERS.get(key)
            if embedder is None:
                parts = _PARTS.get((model, precision))
                if parts is None:
                    parts = _PARTS[(model, precision)] = _load_parts(model, precision)
                embedder = _EMBEDDERS[key] = cls(
                    model_name=model, parts=parts, batch_size=batch_size
                )
            return embedder

    @cached_property
    def weights(self) -> str:
        """A fingerprint of the loaded weights: which model made a vector (see _fingerprint)."""
        return weights_fingerprint(self._parts.model)

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
        return [items[i : i + self.batch_size] for i in range(0, len(items), self.batch_size)]

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


def _load_parts(model: str, precision: Precision) -> _ClipParts:
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
    )


def _shortest_edge(processor: Any) -> int | None:
    """The processor's resize target when it is "shortest edge to N px, bicubic"."""
    # transformers 5 keeps sizes in a SizeDict (attributes); older releases in a dict.
    size = getattr(processor, "size", None)
    side = size.get("shortest_edge") if isinstance(size, dict) else None
    side = getattr(size, "shortest_edge", side)
    bicubic = int(getattr(processor, "resample", -1)) == int(Image.Resampling.BICUBIC)
    if not getattr(processor, "do_resize", False) or not bicubic or not side:
        return None
    return int(side)


def _load_failure(model: str, reason: str) -> str:
    return load_failure(_ENV_VAR, model, "CLIP model", reason)
