"""folio: answers questions about the documents a team shares, with evidence.

The public API is listed in ``__all__``. Names are imported on first use: the parser's
child processes import this package and must not pay for torch or SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Answerer": "rag.answer",
    "Settings": "rag.settings",
    "RetrievalConfig": "rag.settings",
    "ParseLimits": "rag.settings",
    "LlmConfig": "rag.settings",
    "Services": "rag.services",
    "open_services": "rag.services",
    "Ingestor": "rag.ingest",
    "Retriever": "rag.retrieve",
    "PageRenderer": "rag.pages",
    "VisionModel": "rag.llm",
    "mrkdwn_safe": "rag.mrkdwn",
    "FolioError": "rag.errors",
    "Answer": "rag.types",
    "Audience": "rag.types",
    "Citation": "rag.types",
    "Document": "rag.types",
    "PageHit": "rag.types",
    "QueryImage": "rag.types",
    "Scope": "rag.types",
    "Turn": "rag.types",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rag' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
