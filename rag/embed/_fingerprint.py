"""A fingerprint of a model's weights: which model made a vector, even when sizes match.

Hashing every byte of CLIP ViT-B/32 (600 MB) took ~3 s on this machine, and even summing
its tensors ~4 s, at every start of every process. The fingerprint instead hashes, for
each tensor in name order, its name, dtype and shape and 4096 values spread evenly through
it (~0.7 s for CLIP on a busy machine). A swapped checkpoint, a fine-tune or a
re-initialised layer changes those values; an edit confined to unsampled positions would
not be seen, which training does not produce.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from rag.types import VectorModels

if TYPE_CHECKING:
    from rag.embed.clip import ClipEmbedder
    from rag.embed.text import TextEmbedder

SAMPLES = 4096


def weights_fingerprint(module: Any) -> str:
    """Hex digest of a torch module's parameters and buffers (see the module docstring)."""
    import torch

    digest = hashlib.sha256()
    with torch.no_grad():
        for name, tensor in sorted(module.state_dict().items()):
            flat = tensor.detach().reshape(-1)
            step = max(1, flat.numel() // SAMPLES)
            sample = flat[::step][:SAMPLES].to(torch.float64).cpu().numpy()
            digest.update(f"{name}|{flat.dtype}|{tuple(tensor.shape)}|".encode())
            digest.update(sample.tobytes())
    return digest.hexdigest()[:32]


def vector_models(clip: ClipEmbedder, text: TextEmbedder) -> VectorModels:
    """The models these embedders would make vectors with (fingerprints computed once)."""
    return VectorModels(
        clip_model=clip.model_name,
        clip_weights=clip.weights,
        clip_dim=clip.dim,
        text_model=text.model_name,
        text_weights=text.weights,
        text_dim=text.dim,
    )
