"""What the embedders share: one lock per model, usable from threads and event loops."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from rag.ingest._child import RENDER_NICE
from rag.settings import Precision

if TYPE_CHECKING:
    import torch

T = TypeVar("T")

# How many steps of niceness the models' threads started now run behind the process's
# priority (see models_behind_the_loop); 0: at its priority.
_model_nice = 0
# Where `folio serve` runs a question's embeddings: with answers' page renders, behind the
# event loop and ahead of indexing (INGEST_NICE).
MODEL_NICE = RENDER_NICE


@contextlib.contextmanager
def models_behind_the_loop(nice: int = MODEL_NICE) -> Iterator[None]:
    """While open, the models' threads that start run ``nice`` steps behind the event loop.

    ``folio serve`` embeds questions in its own process, on the models' threads and the
    OpenMP teams they start (a thread inherits its creator's niceness). At the loop's
    priority they took its core while it should ack Slack (bench.load while indexing: the
    loop waited ~30 of 95 s for a core, lag p99 ~40 ms; ~16 s and 15 ms with them at +5).
    Open it before the models' first batch: threads already started keep their priority.
    """
    global _model_nice
    before, _model_nice = _model_nice, nice
    try:
        yield
    finally:
        _model_nice = before


def _enter_model_thread() -> None:
    if _model_nice <= 0:
        return
    thread = threading.get_native_id()
    # Linux gives each thread its own niceness; elsewhere the thread keeps the process's
    # rather than failing the model.
    with contextlib.suppress(OSError):
        current = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, current + _model_nice))


class ModelGate:
    """Serialises calls into one model, from threads and from any number of event loops.

    The thread lock guards the model itself; the per-loop asyncio lock keeps waiting
    callers on the event loop instead of parking them in the default thread pool,
    which other blocking work (parsing, the database) also needs. Async calls run on
    one thread of the gate's own: a model's allocations then stay in one malloc arena
    and its math in one OpenMP team, where batches spread over the default pool's
    threads left each thread holding its own (an ingest's peak RSS was ~160 MB higher).
    """

    def __init__(self) -> None:
        self._worker = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="folio-model", initializer=_enter_model_thread
        )
        self._thread_lock = threading.Lock()
        # Separate from the model lock: taking it must never wait for a running batch.
        self._registry_lock = threading.Lock()
        self._loop_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def run(self, work: Callable[[], T]) -> T:
        """Run ``work`` while holding the model."""
        with self._thread_lock:
            return work()

    async def arun(self, work: Callable[[], T]) -> T:
        """Run ``work`` on the gate's thread, one caller at a time per event loop."""
        async with self._loop_lock():
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._worker, self.run, work)

    def _loop_lock(self) -> asyncio.Lock:
        # asyncio.Lock binds to the loop that first waits on it; models are cached per
        # process and outlive loops (tests, `asyncio.run` in the CLI), so keep one per loop.
        loop = asyncio.get_running_loop()
        with self._registry_lock:
            lock = self._loop_locks.get(loop)
            if lock is None:
                lock = self._loop_locks[loop] = asyncio.Lock()
        return lock


def quiet_progress_bars() -> None:
    """Keep transformers' "Loading weights" bars off the terminal; folio shows its own."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]


def load_failure(env_var: str, model: str, what: str, reason: str) -> str:
    """One sentence saying why ``model`` did not load and what to set ``env_var`` to."""
    looks_local = model.startswith(("/", ".", "~")) or os.sep in model.strip(os.sep).rstrip()
    if looks_local and not Path(model).expanduser().exists():
        return (
            f"{env_var} points at {model}, which does not exist; set it to a folder holding "
            f"a saved {what} or to a Hugging Face model id."
        )
    # Only the first sentence of the library's reason, so ours stays one sentence.
    first = reason.strip().splitlines()[0] if reason.strip() else "unknown error"
    first = first.split(". ")[0].rstrip(".")
    return (
        f"{env_var}={model!r} could not be loaded as a {what} ({first}); point it at a local "
        "folder holding one, or allow downloading from the Hugging Face Hub."
    )


def model_dtype(
    precision: Precision, capabilities: Mapping[str, object] | None = None
) -> torch.dtype:
    """The dtype to run a model in: bfloat16 where the CPU multiplies it natively and fast.

    ``capabilities`` is ``torch.cpu.get_capabilities()`` unless given (tests pass their own).
    With AMX, bfloat16 weights run the encoders about 3x faster than float32 (measured on a
    Sapphire Rapids core: all-MiniLM-L6-v2 ~27 vs ~8 passages per CPU-second, ViT-B/32 35
    vs 120 ms per image) at cosine >= 0.9999 to the float32 vectors. AVX512-BF16 alone is
    not enough: on such a core (no AMX exposed) oneDNN's bfloat16 matmuls lose to MKL's
    float32 ones, and the encoders ran slower in bfloat16 (all-MiniLM-L6-v2 15.2 vs 21.8
    passages per CPU-second, ViT-B/32 9.5 vs 15.8 images per CPU-second). So ``auto`` means
    bfloat16 only with AMX.
    """
    import torch

    if precision == "float32":
        return torch.float32
    if precision == "bfloat16" or fast_bfloat16(capabilities):
        return torch.bfloat16
    return torch.float32


def fast_bfloat16(capabilities: Mapping[str, object] | None = None) -> bool:
    """True when this CPU has AMX bfloat16 tiles (where bfloat16 beats float32)."""
    if capabilities is None:
        capabilities = cpu_capabilities()
    return bool(capabilities.get("amx_bf16"))


def cpu_capabilities() -> Mapping[str, object]:
    """What torch says this CPU can do (empty where this torch cannot tell)."""
    import torch

    capabilities = getattr(torch.cpu, "get_capabilities", None)
    found: Mapping[str, object] = capabilities() if capabilities is not None else {}
    return found


def release_free_memory() -> bool:
    """Hand the C heap's free pages back to the OS (glibc ``malloc_trim``); False elsewhere.

    A batch of embeddings frees hundreds of MB of activations that glibc keeps mapped, so
    an ingesting process's RSS ratchets up with its biggest batch. Trimming after each
    document keeps memory flat as the corpus grows.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return False
    return bool(trim(0))
