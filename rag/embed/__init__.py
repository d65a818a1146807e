"""Embedders: CLIP for pictures and short texts, a text model for passages, BM25 for terms."""

from __future__ import annotations

from rag.embed._fingerprint import vector_models
from rag.embed._shared import models_behind_the_loop
from rag.embed.clip import ClipEmbedder
from rag.embed.sparse import Bm25Encoder
from rag.embed.text import TextEmbedder

__all__ = [
    "Bm25Encoder",
    "ClipEmbedder",
    "TextEmbedder",
    "models_behind_the_loop",
    "vector_models",
]
