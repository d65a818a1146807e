"""Token vectors for late interaction: which of a text's tokens are kept, and how.

A passage's tokens come from the forward pass that makes its embedding (the transformer's
output before pooling). Special tokens ([CLS], [SEP], padding) and punctuation say little
about what a passage is about and are left out; a word piece seen several times in one
passage keeps one row, the mean of its occurrences (its vectors differ only by context),
so a passage stores about 100 rows of the model's size instead of 256. Rows are unit
length, float16.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

# The most rows one text keeps (first seen first): enough for the ~256 tokens a
# passage gives MiniLM, whose word pieces repeat.
MAX_TOKENS = 128


def skipped_ids(tokenizer: Any) -> NDArray[np.bool_]:
    """A mask over the vocabulary: True for special tokens and pure punctuation."""
    size = len(tokenizer)
    skip = np.zeros(size, dtype=np.bool_)
    for token_id, token in enumerate(tokenizer.convert_ids_to_tokens(list(range(size)))):
        word = str(token).removeprefix("##")
        skip[token_id] = not any(char.isalnum() for char in word)
    for token_id in tokenizer.all_special_ids:
        skip[token_id] = True
    return skip


def token_rows(
    ids: Sequence[int], vectors: NDArray[np.float32], skip: NDArray[np.bool_], *, limit: int
) -> NDArray[np.float16]:
    """One unit row per distinct kept word piece (the mean of its occurrences), in order."""
    rows: dict[int, list[int]] = {}
    for position, token_id in enumerate(ids):
        if token_id < len(skip) and skip[token_id]:
            continue
        if token_id in rows:
            rows[token_id].append(position)
        elif len(rows) < limit:
            rows[token_id] = [position]
    if not rows:
        return np.zeros((0, vectors.shape[1]), dtype=np.float16)
    pooled = np.stack([vectors[positions].mean(axis=0) for positions in rows.values()])
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    unit: NDArray[np.float16] = (pooled / np.maximum(norms, 1e-12)).astype(np.float16)
    return unit
