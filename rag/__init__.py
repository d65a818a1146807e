"""folio: answers questions about the documents a team shares, with evidence.

The public API is ``__all__``; everything else is internal. Type checkers see every name
with its real type. At run time a name is imported on first use, because the parser's
child processes import this package and must not pay for torch or SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag._llm import VisionModel
    from rag._services import Services, open_services
    from rag.answer._answerer import Answerer
    from rag.answer._pages import PageRenderer
    from rag.answer._retrieve import Retriever
    from rag.errors import FolioError
    from rag.ingest._ingestor import Ingestor
    from rag.ingest._sniff import SUPPORTED_FORMATS, SUPPORTED_SUFFIXES
    from rag.settings import LlmConfig, ParseLimits, RetrievalConfig, Settings
    from rag.types import (
        Answer,
        Audience,
        Citation,
        Document,
        PageHit,
        QueryImage,
        Scope,
        Turn,
        page_label,
    )

_EXPORTS = {
    "Answerer": "rag.answer._answerer",
    "Settings": "rag.settings",
    "RetrievalConfig": "rag.settings",
    "ParseLimits": "rag.settings",
    "LlmConfig": "rag.settings",
    "Services": "rag._services",
    "open_services": "rag._services",
    "Ingestor": "rag.ingest._ingestor",
    "Retriever": "rag.answer._retrieve",
    "PageRenderer": "rag.answer._pages",
    "VisionModel": "rag._llm",
    "FolioError": "rag.errors",
    "Answer": "rag.types",
    "Audience": "rag.types",
    "Citation": "rag.types",
    "Document": "rag.types",
    "PageHit": "rag.types",
    "QueryImage": "rag.types",
    "Scope": "rag.types",
    "Turn": "rag.types",
    "page_label": "rag.types",
    "SUPPORTED_SUFFIXES": "rag.ingest._sniff",
    "SUPPORTED_FORMATS": "rag.ingest._sniff",
}

__all__ = [
    "Answer",
    "Answerer",
    "Audience",
    "Citation",
    "Document",
    "FolioError",
    "Ingestor",
    "LlmConfig",
    "PageHit",
    "PageRenderer",
    "ParseLimits",
    "QueryImage",
    "RetrievalConfig",
    "Retriever",
    "SUPPORTED_FORMATS",
    "SUPPORTED_SUFFIXES",
    "Scope",
    "Services",
    "Settings",
    "Turn",
    "VisionModel",
    "open_services",
    "page_label",
]

if not TYPE_CHECKING:

    def __getattr__(name: str) -> object:
        module = _EXPORTS.get(name)
        if module is None:
            raise AttributeError(f"module 'rag' has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # later lookups skip this hook
        return value
