"""Dense text embeddings for chunks, captions and questions (sentence-transformers)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np

from rag.embed._shared import ModelGate, load_failure, quiet_progress_bars
from rag.errors import ConfigError

logger = logging.getLogger(__name__)

_ENV_VAR = "FOLIO_TEXT_MODEL"

_MODELS: dict[str, tuple[Any, ModelGate]] = {}
_EMBEDDERS: dict[tuple[str, int], TextEmbedder] = {}
_LOAD_LOCK = threading.Lock()


class TextEmbedder:
    """Embeds texts as unit-length float32 vectors with a sentence-transformers model."""

    dim: int
    model_name: str

    def __init__(
        self, *, model_name: str, model: Any, gate: ModelGate, batch_size: int = 32
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.model_name = model_name
        self.batch_size = batch_size
        self.dim = _dimension(model)
        self._model = model
        self._gate = gate

    @classmethod
    def load(cls, model: str, *, batch_size: int = 32) -> TextEmbedder:
        """Load (once per process) the sentence-transformers model at a hub id or local folder."""
        key = (model, batch_size)
        with _LOAD_LOCK:
            embedder = _EMBEDDERS.get(key)
            if embedder is None:
                loaded = _MODELS.get(model)
                if loaded is None:
                    loaded = _MODELS[model] = (_load_model(model), ModelGate())
                embedder = cls(
                    model_name=model, model=loaded[0], gate=loaded[1], batch_size=batch_size
                )
                _EMBEDDERS[key] = embedder
            return embedder

    async def aembed(self, texts: Sequence[str]) -> np.ndarray:
        """Texts -> (n, dim) unit vectors, off the event loop, one batch at a time.

        Long texts are cut to the model's window.
        """
        parts = []
        # Per batch, so a question waits for at most one batch of a long ingestion.
        for batch in self._batches(texts):
            parts.append(await self._gate.arun(partial(self._encode, batch)))
        return self._joined(parts)

    def _batches(self, texts: Sequence[str]) -> list[list[str]]:
        items = list(texts)
        return [items[i : i + self.batch_size] for i in range(0, len(items), self.batch_size)]

    def _encode(self, texts: list[str]) -> np.ndarray:
        started = time.perf_counter()
        vectors = self._model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        elapsed_ms = 1000 * (time.perf_counter() - started)
        logger.debug("text model embedded %d texts in %.0f ms", len(texts), elapsed_ms)
        return np.asarray(vectors, dtype=np.float32)

    def _joined(self, parts: list[np.ndarray]) -> np.ndarray:
        if not parts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.concatenate(parts)


def _dimension(model: Any) -> int:
    # sentence-transformers 6 renamed the method; 5.x only has the old name.
    getter = getattr(model, "get_embedding_dimension", None)
    dim = getter() if getter is not None else model.get_sentence_embedding_dimension()
    if dim is None:
        raise ConfigError(detail=f"{_ENV_VAR} names a model with no fixed embedding size.")
    return int(dim)


def _load_model(model: str) -> Any:
    """Load a SentenceTransformer on CPU; any failure names FOLIO_TEXT_MODEL."""
    # Imported here so importing rag never pays for sentence-transformers' start-up.
    from sentence_transformers import SentenceTransformer

    quiet_progress_bars()

    started = time.perf_counter()
    try:
        loaded = SentenceTransformer(model, device="cpu")
    except (OSError, ValueError, KeyError) as exc:
        reason = str(exc) or type(exc).__name__
        raise ConfigError(
            detail=load_failure(_ENV_VAR, model, "sentence-transformers model", reason)
        ) from exc
    logger.info("loaded text model %s in %.1f s", model, time.perf_counter() - started)
    return loaded
