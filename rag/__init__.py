"""folio: answers questions about the documents a team shares, with evidence.

Start with ``open_folio(settings)``: it yields a ``Folio``, whose use cases an adapter calls
(``questions.ask``, ``library.index``, ``library.forget``, ``overview.status``...). The
public API is ``__all__``; everything else is internal. Type checkers see every name with
its real type. At run time a name is imported on first use, because the parser's child
processes import this package and must not pay for torch or SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag._audiences import Audiences, Directory
    from rag._backfill import Backfills, BackfillStarted
    from rag._channels import Channels
    from rag._health import HealthCheck, StoreHealth
    from rag._jobs import Job, JobHandler, JobOutcome, JobQueue, JobRunner, JobSpec
    from rag._library import Library
    from rag._limits import RateLimits
    from rag._llm import VisionModel
    from rag._overview import Overview
    from rag._privacy import PrivacyWatch
    from rag._services import Folio, Services, open_folio, open_services
    from rag._units import byte_size
    from rag.answer._answerer import Answerer
    from rag.answer._pages import PageRenderer
    from rag.answer._questions import Questions, looks_like_question
    from rag.answer._retrieve import Retriever
    from rag.cli import Command, run_cli
    from rag.db import EventLog
    from rag.errors import (
        AmbiguousDocument,
        ChatError,
        ConfigError,
        ConverterMissing,
        CorruptDocument,
        DocumentError,
        DocumentNotFound,
        DownloadError,
        DownloadUnavailable,
        DuplicateDocument,
        EmptyDocument,
        EncryptedDocument,
        FileTooLarge,
        FolioError,
        ForbiddenFileHost,
        IndexUnavailable,
        LeaseLost,
        LoginPageInsteadOfFile,
        ModelError,
        ModelRateLimited,
        ModelTimeout,
        ModelUnavailable,
        NotAllowed,
        PageImagesNotUploaded,
        PageTooLarge,
        ParseCrashed,
        ParseTimeout,
        StaleIndex,
        StoreError,
        StoreLocked,
        TooManyPages,
        UnsupportedFile,
    )
    from rag.ingest._files import kind_by_name
    from rag.ingest._ingestor import Ingestor
    from rag.ingest._sniff import supported_formats
    from rag.settings import LlmConfig, ParseLimits, RetrievalConfig, Settings
    from rag.types import (
        Answer,
        Answered,
        Audience,
        BackfillProgress,
        ChannelFacts,
        Citation,
        Document,
        Home,
        IngestResult,
        MemberFacts,
        PageHit,
        PageImage,
        QueryImage,
        Question,
        RecentAnswer,
        Scope,
        SharedFile,
        Status,
        Turn,
        page_label,
    )

_EXPORTS = {
    "HealthCheck": "rag._health",
    "StoreHealth": "rag._health",
    "Folio": "rag._services",
    "Services": "rag._services",
    "open_folio": "rag._services",
    "open_services": "rag._services",
    "Library": "rag._library",
    "RateLimits": "rag._limits",
    "Backfills": "rag._backfill",
    "BackfillStarted": "rag._backfill",
    "Channels": "rag._channels",
    "Audiences": "rag._audiences",
    "Directory": "rag._audiences",
    "PrivacyWatch": "rag._privacy",
    "Overview": "rag._overview",
    "Job": "rag._jobs",
    "JobHandler": "rag._jobs",
    "JobOutcome": "rag._jobs",
    "JobQueue": "rag._jobs",
    "JobRunner": "rag._jobs",
    "JobSpec": "rag._jobs",
    "VisionModel": "rag._llm",
    "Answerer": "rag.answer._answerer",
    "PageRenderer": "rag.answer._pages",
    "Questions": "rag.answer._questions",
    "looks_like_question": "rag.answer._questions",
    "Retriever": "rag.answer._retrieve",
    "Command": "rag.cli",
    "run_cli": "rag.cli",
    "byte_size": "rag._units",
    "EventLog": "rag.db",
    "kind_by_name": "rag.ingest._files",
    "Ingestor": "rag.ingest._ingestor",
    "LlmConfig": "rag.settings",
    "ParseLimits": "rag.settings",
    "RetrievalConfig": "rag.settings",
    "Settings": "rag.settings",
    "ChatError": "rag.errors",
    "ConfigError": "rag.errors",
    "ConverterMissing": "rag.errors",
    "CorruptDocument": "rag.errors",
    "DocumentError": "rag.errors",
    "AmbiguousDocument": "rag.errors",
    "DocumentNotFound": "rag.errors",
    "DownloadError": "rag.errors",
    "DownloadUnavailable": "rag.errors",
    "DuplicateDocument": "rag.errors",
    "EmptyDocument": "rag.errors",
    "EncryptedDocument": "rag.errors",
    "FileTooLarge": "rag.errors",
    "FolioError": "rag.errors",
    "ForbiddenFileHost": "rag.errors",
    "IndexUnavailable": "rag.errors",
    "LeaseLost": "rag.errors",
    "LoginPageInsteadOfFile": "rag.errors",
    "ModelError": "rag.errors",
    "ModelRateLimited": "rag.errors",
    "ModelTimeout": "rag.errors",
    "ModelUnavailable": "rag.errors",
    "NotAllowed": "rag.errors",
    "PageImagesNotUploaded": "rag.errors",
    "PageTooLarge": "rag.errors",
    "ParseCrashed": "rag.errors",
    "ParseTimeout": "rag.errors",
    "StoreError": "rag.errors",
    "StaleIndex": "rag.errors",
    "StoreLocked": "rag.errors",
    "TooManyPages": "rag.errors",
    "UnsupportedFile": "rag.errors",
    "Answer": "rag.types",
    "Answered": "rag.types",
    "Audience": "rag.types",
    "BackfillProgress": "rag.types",
    "ChannelFacts": "rag.types",
    "MemberFacts": "rag.types",
    "Citation": "rag.types",
    "Document": "rag.types",
    "page_label": "rag.types",
    "supported_formats": "rag.ingest._sniff",
    "Home": "rag.types",
    "IngestResult": "rag.types",
    "PageHit": "rag.types",
    "PageImage": "rag.types",
    "QueryImage": "rag.types",
    "Question": "rag.types",
    "RecentAnswer": "rag.types",
    "Scope": "rag.types",
    "SharedFile": "rag.types",
    "Status": "rag.types",
    "Turn": "rag.types",
}

__all__ = [
    "Answer",
    "Answered",
    "Answerer",
    "Audience",
    "Audiences",
    "ChannelFacts",
    "Directory",
    "MemberFacts",
    "PrivacyWatch",
    "BackfillProgress",
    "BackfillStarted",
    "Backfills",
    "Channels",
    "ChatError",
    "Citation",
    "Command",
    "ConfigError",
    "ConverterMissing",
    "CorruptDocument",
    "Document",
    "DocumentError",
    "AmbiguousDocument",
    "DocumentNotFound",
    "DownloadError",
    "DownloadUnavailable",
    "DuplicateDocument",
    "EmptyDocument",
    "EncryptedDocument",
    "EventLog",
    "FileTooLarge",
    "Folio",
    "FolioError",
    "ForbiddenFileHost",
    "HealthCheck",
    "Home",
    "IndexUnavailable",
    "IngestResult",
    "Ingestor",
    "Job",
    "JobHandler",
    "JobOutcome",
    "JobQueue",
    "JobRunner",
    "JobSpec",
    "LeaseLost",
    "Library",
    "LlmConfig",
    "LoginPageInsteadOfFile",
    "ModelError",
    "ModelRateLimited",
    "ModelTimeout",
    "ModelUnavailable",
    "NotAllowed",
    "Overview",
    "PageHit",
    "PageImage",
    "PageImagesNotUploaded",
    "PageRenderer",
    "PageTooLarge",
    "ParseCrashed",
    "ParseLimits",
    "ParseTimeout",
    "QueryImage",
    "Question",
    "Questions",
    "RateLimits",
    "RecentAnswer",
    "RetrievalConfig",
    "Retriever",
    "supported_formats",
    "Scope",
    "Services",
    "Settings",
    "SharedFile",
    "StaleIndex",
    "Status",
    "StoreError",
    "StoreHealth",
    "StoreLocked",
    "TooManyPages",
    "Turn",
    "UnsupportedFile",
    "VisionModel",
    "byte_size",
    "kind_by_name",
    "looks_like_question",
    "open_folio",
    "open_services",
    "page_label",
    "run_cli",
]

if not TYPE_CHECKING:

    def __getattr__(name: str) -> object:
        module = _EXPORTS.get(name)
        if module is None:
            raise AttributeError(f"module 'rag' has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # later lookups skip this hook
        return value
