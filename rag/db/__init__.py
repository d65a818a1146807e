"""folio's relational store: SQLAlchemy 2 async models, sessions, migrations, repositories."""

from __future__ import annotations

from rag.db.answers import AnswerLog
from rag.db.backfills import BackfillLog
from rag.db.catalog import Catalog
from rag.db.migrate import (
    aupgrade_database,
    current_revision,
    downgrade_database,
    head_revision,
    upgrade_database,
)
from rag.db.models import Base, utcnow
from rag.db.queue import Job, JobQueue, JobSpec, JobStatus
from rag.db.session import create_engine, database_url, redacted, session_factory
from rag.db.stores import CaptionCache, ChannelSettingsStore, EventLog

__all__ = [
    "AnswerLog",
    "BackfillLog",
    "Base",
    "CaptionCache",
    "Catalog",
    "ChannelSettingsStore",
    "EventLog",
    "Job",
    "JobQueue",
    "JobSpec",
    "JobStatus",
    "aupgrade_database",
    "create_engine",
    "current_revision",
    "database_url",
    "downgrade_database",
    "head_revision",
    "redacted",
    "session_factory",
    "upgrade_database",
    "utcnow",
]
