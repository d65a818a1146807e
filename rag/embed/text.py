"""Dense text embeddings for chunks, captions and questions (sentence-transformers)."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Sequence
from functools import cached_property, partial
from typing import Any

import numpy as np

from rag.embed._fingerprint import weights_fingerprint
from rag.embed._shared import (
    ModelGate,
    load_failure,
    model_dtype,
    quiet_progress_bars,
)
from rag.embed._tokens import MAX_TOKENS, skipped_ids, token_rows
from rag.errors import ConfigError
from rag.settings import Precision

logger = logging.getLogger(__name__)

_ENV_VAR = "FOLIO_TEXT_MODEL"
_WORD = re.compile(r"\S+")

_MODELS: dict[tuple[str, Precision], tuple[Any, ModelGate]] = {}
_EMBEDDERS: dict[tuple[str, int, Precision], TextEmbedder] = {}
_LOAD_LOCK = threading.Lock()


class TextEmbedder:
    """Embeds texts as unit-length float32 vectors with a sentence-transformers model.

    Each text is cut to the model's window before it is tokenized, and a call's texts are
    embedded in batches of similar length, so no batch pads short texts to a long one.
    ``texts_embedded`` counts the texts this embedder has run through the model.
    """

    dim: int
    model_name: str
    texts_embedded: int

    def __init__(
        self, *, model_name: str, model: Any, gate: ModelGate, batch_size: int = 32
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.model_name = model_name
        self.batch_size = batch_size
        self.dim = _dimension(model)
        self.texts_embedded = 0
        self._model = model
        self._gate = gate
        # Nearly every word is at least one token, so twice the window in words holds all
        # the tokens the model reads (with room for words the tokenizer drops, such as
        # zero-width characters); the rest would only be tokenized to be thrown away.
        self._max_words = 2 * int(getattr(model, "max_seq_length", 0) or 0)

    @classmethod
    def load(
        cls, model: str, *, batch_size: int = 32, precision: Precision = "auto"
    ) -> TextEmbedder:
        """Load (once per process) the sentence-transformers model at a hub id or local folder.

        ``precision`` "auto" runs it in bfloat16 where the CPU has AMX (see model_dtype).
        """
        key = (model, batch_size, precision)
        with _LOAD_LOCK:
            embedder = _EMBEDDERS.get(key)
            if embedder is None:
                loaded = _MODELS.get((model, precision))
                if loaded is None:
                    loaded = (_load_model(model, precision), ModelGate())
                    _MODELS[(model, precision)] = loaded
                embedder = cls(
                    model_name=model, model=loaded[0], gate=loaded[1], batch_size=batch_size
                )
                _EMBEDDERS[key] = embedder
            return embedder

    @cached_property
    def weights(self) -> str:
        """A fingerprint of the loaded weights: which model made a vector (see _fingerprint)."""
        return weights_fingerprint(self._model)

    async def aembed(self, texts: Sequence[str]) -> np.ndarray:
        """Texts -> (n, dim) unit vectors, off the event loop, one batch at a time.

        Long texts are cut to the model's window.
        """
        order, batches = self._batches(texts)
        parts = []
        # Per batch, so a question waits for at most one batch of a long ingestion.
        for batch in batches:
            parts.append(await self._gate.arun(partial(self._encode, batch)))
        return self._joined(parts, order)

    async def aembed_with_tokens(self, texts: Sequence[str]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Texts -> (n, dim) unit vectors and each text's token vectors, from one forward pass.

        A text's token vectors are a float16 (tokens, dim) matrix of unit rows, special
        tokens and punctuation left out, a repeated word piece once (see rag.embed._tokens).
        """
        order, batches = self._batches(texts)
        parts: list[np.ndarray] = []
        tokens: list[np.ndarray] = []
        for batch in batches:
            vectors, rows = await self._gate.arun(partial(self._encode_with_tokens, batch))
            parts.append(vectors)
            tokens.extend(rows)
        by_text: list[np.ndarray] = [np.empty(0)] * len(order)
        for position, matrix in zip(order, tokens, strict=True):
            by_text[position] = matrix
        return self._joined(parts, order), by_text

    @cached_property
    def _skipped(self) -> np.ndarray:
        return skipped_ids(self._model.tokenizer)

    def _encode_with_tokens(self, texts: list[str]) -> tuple[np.ndarray, list[np.ndarray]]:
        self.texts_embedded += len(texts)
        outputs = self._model.encode(
            texts, batch_size=self.batch_size, output_value=None, show_progress_bar=False
        )
        pooled = np.stack([out["sentence_embedding"].float().numpy() for out in outputs])
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), np.float32(1e-12))
        rows = []
        for out in outputs:
            length = int(out["attention_mask"].sum())
            ids = out["input_ids"][:length].tolist()
            vectors = out["token_embeddings"][:length].float().numpy()
            rows.append(token_rows(ids, vectors, self._skipped, limit=MAX_TOKENS))
        return pooled.astype(np.float32), rows

    def _batches(self, texts: Sequence[str]) -> tuple[list[int], list[list[str]]]:
        """The texts cut to the window, shortest first, in batches; and their original order."""
        cut = [self._cut(text) for text in texts]
        order = sorted(range(len(cut)), key=lambda i: len(cut[i]))
        items = [cut[i] for i in order]
        size = self.batch_size
        return order, [items[i : i + size] for i in range(0, len(items), size)]

    def _cut(self, text: str) -> str:
        if not self._max_words or len(text) <= self._max_words:
            return text
        for count, word in enumerate(_WORD.finditer(text), 1):
            if count == self._max_words:
                return text[: word.end()]
        return text

    def _encode(self, texts: list[str]) -> np.ndarray:
        self.texts_embedded += len(texts)
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
        unit: np.ndarray = np.asarray(vectors, dtype=np.float32)
        # A bfloat16 model normalises in bfloat16 (norms off by ~1e-3); redo it in float32.
        norms = np.linalg.norm(unit, axis=1, keepdims=True)
        unit /= np.maximum(norms, np.float32(1e-12))
        return unit

    def _joined(self, parts: list[np.ndarray], order: list[int]) -> np.ndarray:
        if not parts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = np.empty((len(order), self.dim), dtype=np.float32)
        vectors[order] = np.concatenate(parts)
        return vectors


def _dimension(model: Any) -> int:
    # sentence-transformers 6 renamed the method; 5.x only has the old name.
    getter = getattr(model, "get_embedding_dimension", None)
    dim = getter() if getter is not None else model.get_sentence_embedding_dimension()
    if dim is None:
        raise ConfigError(detail=f"{_ENV_VAR} names a model with no fixed embedding size.")
    return int(dim)


def _load_model(model: str, precision: Precision) -> Any:
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
    dtype = model_dtype(precision)
    loaded.to(dtype)
    logger.info("loaded text model %s (%s) in %.1f s", model, dtype, time.perf_counter() - started)
    return loaded
