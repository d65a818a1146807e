"""Dense text embeddings for chunks, captions and questions (sentence-transformers)."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Sequence
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import numpy as np

from rag.embed import _openvino
from rag.embed._fingerprint import weights_fingerprint
from rag.embed._shared import (
    ModelGate,
    load_failure,
    model_dtype,
    quiet_progress_bars,
)
from rag.embed._tokens import MAX_TOKENS, skipped_ids, token_rows
from rag.errors import ConfigError
from rag.settings import Backend, Precision

logger = logging.getLogger(__name__)

_ENV_VAR = "FOLIO_TEXT_MODEL"
_WORD = re.compile(r"\S+")

_BACKEND_VAR = "FOLIO_EMBED_BACKEND"
# What an export's vectors are checked on against torch float32 (see _openvino.AGREEMENT).
PROBES = (
    "Net revenue increased 12% to $4.2 billion, driven by higher volumes in North America.",
    "How much did the company's revenue increase last year?",
    "Item 7. Management's Discussion and Analysis of Financial Condition "
    "and Results of Operations " * 12,
    "| Segment | 2023 | 2022 |\n| --- | --- | --- |\n| Beauty | $1,204 | $1,117 |",
    "dividends",
)

_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# OpenVINO's CPU plugin builds kernels and buffers for each input shape it runs and
# keeps memory for each (turning its runtime cache off kept more, not less): batches of
# every token count from 1 to 256 made an ingest's memory grow with each new count
# (~190 MB kept after malloc_trim after the first 10-K, ~70 MB more over the next six
# files). Padded to a multiple of this many tokens, batches come in at most 8 lengths
# and the memory stays flat (+6 MB over those files). The padding is masked out, so the
# vectors are the same, and it cost no measurable CPU (fewer new shapes to build).
TOKEN_STEP = 32
# The model, its gate, its export (if it runs on OpenVINO), its weights' fingerprint.
_Loaded = tuple[Any, ModelGate, "_openvino.CompiledEncoder | None", str]
_MODELS: dict[tuple[str, Precision, Backend], _Loaded] = {}
_EMBEDDERS: dict[tuple[str, int, Precision, Backend], TextEmbedder] = {}
_LOAD_LOCK = threading.Lock()


class TextEmbedder:
    """Embeds texts as unit-length float32 vectors with a sentence-transformers model.

    Each text is cut to the model's window before it is tokenized, and a call's texts are
    embedded in batches of similar token counts, so no batch pads short texts to a long
    one. The model runs in torch, or in OpenVINO when ``compiled`` holds its export.
    ``texts_embedded`` counts the texts this embedder has run through the model.
    """

    dim: int
    model_name: str
    texts_embedded: int

    def __init__(
        self,
        *,
        model_name: str,
        model: Any,
        gate: ModelGate,
        weights: str,
        batch_size: int = 32,
        compiled: _openvino.CompiledEncoder | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.model_name = model_name
        self.batch_size = batch_size
        self.dim = _dimension(model)
        self.texts_embedded = 0
        self._model = model
        self._gate = gate
        self._compiled = compiled
        self._weights = weights
        self._max_tokens = int(getattr(model, "max_seq_length", 0) or 0)
        # Nearly every word is at least one token, so twice the window in words holds all
        # the tokens the model reads (with room for words the tokenizer drops, such as
        # zero-width characters); the rest would only be tokenized to be thrown away.
        self._max_words = 2 * self._max_tokens

    @property
    def backend(self) -> str:
        """What runs the model: "torch", or "openvino" with its precision hint."""
        return "torch" if self._compiled is None else f"openvino-{self._compiled.hint}"

    @classmethod
    def load(
        cls,
        model: str,
        *,
        batch_size: int = 32,
        precision: Precision = "auto",
        backend: Backend = "torch",
        cache: Path | None = None,
    ) -> TextEmbedder:
        """Load (once per process) the sentence-transformers model at a hub id or local folder.

        ``precision`` "auto" runs torch in bfloat16 where the CPU has AMX (see model_dtype),
        OpenVINO in bfloat16 where the CPU has it. ``backend`` "openvino" runs an export of
        the same weights cached under ``cache``; "auto" does so when OpenVINO is installed
        and the export agrees with torch float32, else runs torch.
        """
        key = (model, batch_size, precision, backend)
        with _LOAD_LOCK:
            embedder = _EMBEDDERS.get(key)
            if embedder is None:
                loaded = _MODELS.get((model, precision, backend))
                if loaded is None:
                    loaded = _load(model, precision, backend, cache or Path("data/models"))
                    _MODELS[(model, precision, backend)] = loaded
                embedder = cls(
                    model_name=model,
                    model=loaded[0],
                    gate=loaded[1],
                    batch_size=batch_size,
                    compiled=loaded[2],
                    weights=loaded[3],
                )
                _EMBEDDERS[key] = embedder
            return embedder

    @property
    def weights(self) -> str:
        """A fingerprint of the loaded weights: which model made a vector (see _fingerprint).

        Taken from the weights as loaded, before any cast to bfloat16, and an OpenVINO
        export has the same one: both agree with the float32 weights within AGREEMENT, so
        processes on different backends or CPUs (a `folio serve` in bfloat16 on an AMX
        core, its worker on OpenVINO) share one index, and switching needs no reindex.
        """
        return self._weights

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
        """The texts cut to the window, fewest tokens first, in batches; and their order."""
        cut = [self._cut(text) for text in texts]
        lengths = self._token_counts(cut)
        order = sorted(range(len(cut)), key=lambda i: lengths[i])
        items = [cut[i] for i in order]
        size = self.batch_size
        return order, [items[i : i + size] for i in range(0, len(items), size)]

    def _token_counts(self, texts: list[str]) -> list[int]:
        tokenizer = getattr(self._model, "tokenizer", None)
        if tokenizer is None or not texts or not self._max_tokens:
            return [len(text) for text in texts]
        ids = tokenizer(texts, truncation=True, max_length=self._max_tokens)["input_ids"]
        return [len(row) for row in ids]

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
        if self._compiled is not None:
            vectors = _run_compiled(self._compiled, self._model, texts)
        else:
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


def _load(model: str, precision: Precision, backend: Backend, cache: Path) -> _Loaded:
    """The torch model, its gate, and its compiled export when ``backend`` asks for one."""
    if backend == "torch" or (backend == "auto" and not _openvino.available()):
        loaded, weights = _load_model(model, model_dtype(precision))
        return loaded, ModelGate(), None, weights
    import torch

    # Exported from float32 weights; OpenVINO applies the precision itself.
    loaded, weights = _load_model(model, torch.float32)
    try:
        compiled = _export(loaded, weights, precision, cache)
    except Exception as exc:  # noqa: BLE001 - any export failure means torch runs it
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")
        if backend == "openvino":
            raise ConfigError(
                detail=f"{_BACKEND_VAR}=openvino could not run {model!r} ({reason}); "
                "install openvino or set it to torch."
            ) from exc
        logger.warning("text model stays on torch: OpenVINO failed (%s)", reason)
        return loaded.to(model_dtype(precision)), ModelGate(), None, weights
    return loaded, ModelGate(), compiled, weights


def _export(
    model: Any, weights: str, precision: Precision, cache: Path
) -> _openvino.CompiledEncoder:
    """Compile (exporting once) ``model``, whose fingerprint is ``weights``, for OpenVINO.

    Raises unless the export agrees with torch.
    """
    if not _openvino.available():
        raise RuntimeError("the openvino package is not installed")
    folder = _openvino.export_folder(cache, "text", weights)
    example = _features(model, list(PROBES[:2]))
    return _openvino.load_checked(
        _pooled_module(model).eval(),
        example,
        folder,
        precision,
        partial(_agreement, model=model),
    )


def _agreement(compiled: _openvino.CompiledEncoder, *, model: Any) -> float:
    """The lowest cosine between the export's and torch float32's vectors of PROBES."""
    import torch

    with torch.inference_mode():
        reference = model.encode(
            list(PROBES), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
    got = _run_compiled(compiled, model, list(PROBES))
    got /= np.linalg.norm(got, axis=1, keepdims=True)
    return float(np.min(np.sum(reference * got, axis=1)))


def _run_compiled(compiled: _openvino.CompiledEncoder, model: Any, texts: list[str]) -> np.ndarray:
    """One batch through the export, tokenized as sentence-transformers would.

    The tokens are padded to a multiple of TOKEN_STEP (within the model's window).
    """
    features = _features(model, texts)
    window = int(getattr(model, "max_seq_length", 0) or 0)
    pad_id = getattr(getattr(model, "tokenizer", None), "pad_token_id", None) or 0
    inputs = {name: features[name].numpy() for name in compiled.input_names}
    return compiled(padded_tokens(inputs, TOKEN_STEP, window, pad_id))


def padded_tokens(
    inputs: dict[str, np.ndarray], step: int, window: int, pad_id: int
) -> dict[str, np.ndarray]:
    """Token arrays (batch, tokens) padded on the right to a multiple of ``step`` tokens.

    Never past ``window`` (0: no limit) unless they are longer already. ``input_ids`` is
    padded with ``pad_id``, the rest (attention mask, token types) with 0: padding is
    masked out.
    """
    length = next(iter(inputs.values())).shape[1] if inputs else 0
    target = -(-length // step) * step
    if window:
        target = min(target, max(window, length))
    if target <= length:
        return inputs
    widths = ((0, 0), (0, target - length))
    return {
        name: np.pad(array, widths, constant_values=pad_id if name == "input_ids" else 0)
        for name, array in inputs.items()
    }


def _features(model: Any, texts: list[str]) -> dict[str, Any]:
    """The token tensors sentence-transformers feeds its model for ``texts``."""
    # sentence-transformers 6 renamed tokenize to preprocess (and adds non-tensor keys).
    preprocess = getattr(model, "preprocess", None) or model.tokenize
    features = preprocess(texts)
    return {name: features[name] for name in _INPUTS if name in features}


def _pooled_module(model: Any) -> Any:
    import torch

    class Pooled(torch.nn.Module):
        """The sentence-transformers pipeline from token ids to its sentence embedding."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor | None = None,
        ) -> torch.Tensor:
            features = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None:
                features["token_type_ids"] = token_type_ids
            embedding: torch.Tensor = self.model(features)["sentence_embedding"]
            return embedding

    return Pooled()


def _load_model(model: str, dtype: Any) -> tuple[Any, str]:
    """A SentenceTransformer on CPU in ``dtype`` and the fingerprint of its weights as loaded.

    Any failure names FOLIO_TEXT_MODEL.
    """
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
    weights = weights_fingerprint(loaded)
    loaded.to(dtype)
    logger.info("loaded text model %s (%s) in %.1f s", model, dtype, time.perf_counter() - started)
    return loaded, weights
