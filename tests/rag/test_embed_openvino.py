"""The embedders on OpenVINO: exported from the real all-MiniLM-L6-v2 (and a tiny CLIP's
vision tower), cached, checked against torch float32, and torch whenever OpenVINO cannot
run them."""

from __future__ import annotations

import copy
import io
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rag.embed import ClipEmbedder, TextEmbedder, _openvino, clip, text
from rag.embed._fingerprint import weights_fingerprint
from rag.embed._shared import ModelGate
from rag.errors import ConfigError
from rag.settings import Precision
from tests.fakes.services import MODEL_CACHE
from tests.rag.test_embed_text import PASSAGES, QUESTIONS, assert_same_rankings


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
async def test_openvino_ranks_passages_as_torch_float32_does(
    minilm_dir: Path, precision: Precision
) -> None:
    exact = TextEmbedder.load(str(minilm_dir), precision="float32")
    fast = TextEmbedder.load(
        str(minilm_dir), precision=precision, backend="openvino", cache=MODEL_CACHE
    )
    assert fast.backend == {"float32": "openvino-f32", "bfloat16": "openvino-bf16"}[precision]
    texts = [*PASSAGES, *QUESTIONS, " ".join(["revenue"] * 2000)]
    reference, approx = await exact.aembed(texts), await fast.aembed(texts)
    np.testing.assert_allclose(np.linalg.norm(approx, axis=1), 1.0, rtol=1e-5)
    assert float(np.min(np.sum(reference * approx, axis=1))) > _openvino.AGREEMENT
    assert_same_rankings(reference, approx)


class _Shapes:
    """A compiled encoder that records the token counts of the batches it runs."""

    def __init__(self, compiled: _openvino.CompiledEncoder) -> None:
        self.compiled = compiled
        self.input_names = compiled.input_names
        self.hint = compiled.hint
        self.lengths: list[int] = []

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        self.lengths.append(inputs["input_ids"].shape[1])
        return self.compiled(inputs)


async def test_openvino_sees_few_token_counts_and_the_same_vectors(minilm_dir: Path) -> None:
    # Every new input shape makes OpenVINO keep memory: batches come in steps of 32 tokens.
    fast = TextEmbedder.load(
        str(minilm_dir), precision="float32", backend="openvino", cache=MODEL_CACHE
    )
    assert fast._compiled is not None
    shapes = _Shapes(fast._compiled)
    padded = TextEmbedder(
        model_name="padded",
        model=fast._model,
        gate=ModelGate(),
        weights=fast.weights,
        batch_size=2,
        compiled=shapes,
    )
    texts = [" ".join(["revenue"] * words) for words in (1, 5, 30, 40, 100, 300)]

    vectors = await padded.aembed(texts)

    # 3, 7, 32, 42, 102 and 256 tokens: in pairs, fewest first.
    assert shapes.lengths == [32, 64, 256]
    model = fast._model
    for row, words in zip(vectors, texts, strict=True):
        features = text._features(model, [words])
        alone = fast._compiled({n: features[n].numpy() for n in shapes.input_names})[0]
        assert float(row @ alone) / float(np.linalg.norm(alone)) > 0.99999


def test_tokens_are_padded_to_the_step_within_the_window() -> None:
    inputs = {
        "input_ids": np.array([[101, 7, 102], [101, 102, 0]]),
        "attention_mask": np.array([[1, 1, 1], [1, 1, 0]]),
    }

    padded = text.padded_tokens(inputs, 4, 256, pad_id=9)

    np.testing.assert_array_equal(padded["input_ids"], [[101, 7, 102, 9], [101, 102, 0, 9]])
    np.testing.assert_array_equal(padded["attention_mask"], [[1, 1, 1, 0], [1, 1, 0, 0]])
    assert text.padded_tokens(inputs, 32, 5, pad_id=0)["input_ids"].shape == (2, 5)
    assert text.padded_tokens(inputs, 3, 256, pad_id=0) is inputs
    assert text.padded_tokens(inputs, 32, 2, pad_id=0) is inputs  # longer than the window


def test_an_export_has_the_torch_weights_fingerprint_so_no_reindex(minilm_dir: Path) -> None:
    exact = TextEmbedder.load(str(minilm_dir), precision="float32")
    fast = TextEmbedder.load(
        str(minilm_dir), precision="float32", backend="openvino", cache=MODEL_CACHE
    )
    assert fast.weights == exact.weights


def test_an_export_is_made_once_and_reused_from_the_cache(
    minilm_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, weights = text._load_model(str(minilm_dir), torch.float32)
    first = text._export(model, weights, "float32", tmp_path)
    folder = _openvino.export_folder(tmp_path, "text", weights_fingerprint(model))
    assert (folder / "model.xml").is_file()
    assert json.loads((folder / "agreement-f32.json").read_text())["min_cosine"] > 0.999
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]

    def no_second_export(*args: object) -> None:
        raise AssertionError("exported again")

    monkeypatch.setattr(_openvino, "_export", no_second_export)
    again = text._export(model, weights, "float32", tmp_path)
    features = text._features(model, ["gross margin"])
    inputs = {name: features[name].numpy() for name in first.input_names}
    np.testing.assert_allclose(again(inputs), first(inputs), atol=1e-6)


def test_changed_weights_export_to_another_folder(minilm_dir: Path, tmp_path: Path) -> None:
    model, _ = text._load_model(str(minilm_dir), torch.float32)
    tuned = copy.deepcopy(model)
    with torch.no_grad():
        next(tuned.parameters()).add_(0.01)
    old = _openvino.export_folder(tmp_path, "text", weights_fingerprint(model))
    new = _openvino.export_folder(tmp_path, "text", weights_fingerprint(tuned))
    assert old != new


def test_auto_runs_torch_where_openvino_is_not_installed(
    minilm_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_openvino, "available", lambda: False)
    model, _, compiled, _ = text._load(str(minilm_dir), "float32", "auto", tmp_path)
    assert compiled is None
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert not any(tmp_path.iterdir())


def test_openvino_asked_for_but_missing_is_a_config_error_naming_the_variable(
    minilm_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_openvino, "available", lambda: False)
    with pytest.raises(ConfigError, match="FOLIO_EMBED_BACKEND"):
        text._load(str(minilm_dir), "float32", "openvino", tmp_path)


def test_an_export_that_disagrees_with_torch_is_not_used(
    minilm_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model, weights = text._load_model(str(minilm_dir), torch.float32)
    text._export(model, weights, "float32", tmp_path)
    folder = _openvino.export_folder(tmp_path, "text", weights_fingerprint(model))
    (folder / "agreement-f32.json").write_text(json.dumps({"min_cosine": 0.9}))

    with caplog.at_level(logging.WARNING, logger="rag.embed.text"):
        _, _, compiled, _ = text._load(str(minilm_dir), "float32", "auto", tmp_path)
    assert compiled is None
    assert "0.9000" in caplog.text
    with pytest.raises(ConfigError, match="FOLIO_EMBED_BACKEND"):
        text._load(str(minilm_dir), "float32", "openvino", tmp_path)


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
async def test_openvino_clip_images_point_where_torch_float32_ones_do(
    tiny_clip_dir: Path, precision: Precision
) -> None:
    exact = ClipEmbedder.load(str(tiny_clip_dir), precision="float32")
    fast = ClipEmbedder.load(
        str(tiny_clip_dir), precision=precision, backend="openvino", cache=MODEL_CACHE
    )
    assert fast.backend == {"float32": "openvino-f32", "bfloat16": "openvino-bf16"}[precision]
    assert fast.weights == exact.weights
    images = [_png(color) for color in ((255, 0, 0), (0, 128, 255), (20, 20, 20))]
    reference, approx = await exact.aembed_images(images), await fast.aembed_images(images)
    assert float(np.min(np.sum(reference * approx, axis=1))) > _openvino.AGREEMENT
    # Query texts stay on torch: the same vectors from either embedder.
    words = ["net revenue", "a bar chart"]
    np.testing.assert_array_equal(await fast.aembed_texts(words), await exact.aembed_texts(words))


def test_auto_keeps_clip_on_torch(tiny_clip_dir: Path, tmp_path: Path) -> None:
    assert clip._load_parts(str(tiny_clip_dir), "float32", "auto", tmp_path).vision is None
    assert not any(tmp_path.iterdir())


def test_clip_on_openvino_asked_for_but_missing_is_a_config_error(
    tiny_clip_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_openvino, "available", lambda: False)
    with pytest.raises(ConfigError, match="FOLIO_EMBED_BACKEND"):
        clip._load_parts(str(tiny_clip_dir), "float32", "openvino", tmp_path)
    assert not any(tmp_path.iterdir())


def _png(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 40), color).save(buffer, format="PNG")
    return buffer.getvalue()


async def test_a_batch_runs_split_across_streams_with_the_vectors_of_one_at_a_time(
    minilm_dir: Path,
) -> None:
    # One single-thread stream per core: a busy core slows the model by its share only.
    fast = TextEmbedder.load(
        str(minilm_dir), precision="float32", backend="openvino", cache=MODEL_CACHE
    )
    compiled = fast._compiled
    assert compiled is not None
    assert "THROUGHPUT" in str(compiled._compiled.get_property("PERFORMANCE_HINT"))
    streams = int(compiled._compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
    assert compiled.streams == streams >= 1
    texts = [*PASSAGES, *QUESTIONS]
    together = await fast.aembed(texts)
    alone = np.concatenate([await fast.aembed([t]) for t in texts])
    assert float(np.min(np.sum(together * alone, axis=1))) > 0.99999
