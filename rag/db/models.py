"""folio's tables, as SQLAlchemy 2 declarative models portable across SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Named constraints let Alembic alter or drop them later (SQLite batch mode needs names).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Slack ids (T…, C…, U…, F…) and message timestamps are short; 64 leaves room.
SlackId = String(64)
Uuid = String(36)


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on both engines.

    PostgreSQL keeps ``timestamptz``; SQLite has no time zones, so values are stored as naive
    UTC and given back their UTC tzinfo on the way out. Naive input is refused: it is a bug.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("folio stores timezone-aware datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base holding folio's metadata."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {datetime: UTCDateTime()}


class DocumentRow(Base):
    """An indexed document (one file shared in one channel)."""

    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("team_id", "channel_id", "content_hash"),
        Index(None, "team_id", "slack_file_id"),
        Index(None, "team_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(Uuid, primary_key=True)
    team_id: Mapped[str] = mapped_column(SlackId)
    channel_id: Mapped[str] = mapped_column(SlackId)
    channel_private: Mapped[bool] = mapped_column(Boolean)
    file_name: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    page_count: Mapped[int] = mapped_column(Integer)
    figure_count: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    slack_file_id: Mapped[str | None] = mapped_column(SlackId)
    uploader_id: Mapped[str | None] = mapped_column(SlackId)
    permalink: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    # Set when a newer version (same name, same channel) replaced it: it no longer answers.
    superseded_at: Mapped[datetime | None]


class DocumentFileRow(Base):
    """The original bytes of a document, kept to re-render highlighted pages."""

    __tablename__ = "document_files"

    document_id: Mapped[str] = mapped_column(
        Uuid, ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[bytes] = mapped_column(LargeBinary)


class PageRow(Base):
    """One page of a document (1-based ``number``)."""

    __tablename__ = "pages"

    document_id: Mapped[str] = mapped_column(
        Uuid, ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    width: Mapped[float] = mapped_column(Float)
    height: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    figure_count: Mapped[int] = mapped_column(Integer, default=0)


class IngestionJobRow(Base):
    """A durable request to index one file; claimed by workers under a lease."""

    __tablename__ = "ingestion_jobs"
    __table_args__ = (
        # NULL slack_file_id (local files) never collide: NULLs are distinct in both engines.
        UniqueConstraint("team_id", "channel_id", "slack_file_id"),
        Index(None, "status", "created_at"),
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status"),
    )

    id: Mapped[str] = mapped_column(Uuid, primary_key=True)
    team_id: Mapped[str] = mapped_column(SlackId)
    channel_id: Mapped[str] = mapped_column(SlackId)
    channel_private: Mapped[bool] = mapped_column(Boolean)
    slack_file_id: Mapped[str | None] = mapped_column(SlackId)
    file_name: Mapped[str] = mapped_column(Text)
    user_id: Mapped[str | None] = mapped_column(SlackId)
    message_ts: Mapped[str | None] = mapped_column(SlackId)
    thread_ts: Mapped[str | None] = mapped_column(SlackId)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    # For a running job: when its lease runs out. For a queued job: not before (retry backoff).
    lease_until: Mapped[datetime | None]
    worker_id: Mapped[str | None] = mapped_column(String(128))
    # A new token per claim; every update of a running job must present it (fencing).
    lease_token: Mapped[str | None] = mapped_column(String(36))
    error: Mapped[str | None] = mapped_column(Text)
    document_id: Mapped[str | None] = mapped_column(
        Uuid, ForeignKey("documents.id", ondelete="SET NULL")
    )
    summary: Mapped[str | None] = mapped_column(Text)
    # The backfill (files already in a channel) this job is part of, if any.
    backfill_id: Mapped[str | None] = mapped_column(
        Uuid, ForeignKey("backfills.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class BackfillRow(Base):
    """A run over the files already in a channel, with its one progress message."""

    __tablename__ = "backfills"

    id: Mapped[str] = mapped_column(Uuid, primary_key=True)
    team_id: Mapped[str] = mapped_column(SlackId)
    channel_id: Mapped[str] = mapped_column(SlackId)
    total: Mapped[int] = mapped_column(Integer)
    # The progress message (in a thread) that each finished job updates.
    message_ts: Mapped[str | None] = mapped_column(SlackId)
    created_at: Mapped[datetime]


class SlackEventRow(Base):
    """A Slack event id already handled (deduplicates Slack's retries across processes)."""

    __tablename__ = "slack_events"
    __table_args__ = (Index(None, "received_at"),)

    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    team_id: Mapped[str] = mapped_column(SlackId)
    received_at: Mapped[datetime]


class ChannelSettingsRow(Base):
    """Per-channel switches."""

    __tablename__ = "channel_settings"

    team_id: Mapped[str] = mapped_column(SlackId, primary_key=True)
    channel_id: Mapped[str] = mapped_column(SlackId, primary_key=True)
    indexing: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    followups: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Answer top-level questions here without a mention (a help channel).
    autoanswer: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    updated_by: Mapped[str | None] = mapped_column(SlackId)
    updated_at: Mapped[datetime]


class AnswerRow(Base):
    """An answer folio posted, kept for thread follow-ups and feedback."""

    __tablename__ = "answers"
    __table_args__ = (
        Index(None, "team_id", "channel_id", "thread_ts"),
        Index(None, "team_id", "channel_id", "message_ts"),
        Index(None, "team_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(Uuid, primary_key=True)
    team_id: Mapped[str] = mapped_column(SlackId)
    channel_id: Mapped[str] = mapped_column(SlackId)
    thread_ts: Mapped[str | None] = mapped_column(SlackId)
    user_id: Mapped[str] = mapped_column(SlackId)
    question: Mapped[str] = mapped_column(Text)
    standalone_question: Mapped[str | None] = mapped_column(Text)
    answer_text: Mapped[str] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(String(32))
    citations: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    message_ts: Mapped[str | None] = mapped_column(SlackId)
    # The page images folio uploaded with the answer (chat file ids), deleted with it.
    uploaded_files: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime]


class FeedbackRow(Base):
    """A thumbs up (+1) or down (-1) on an answer; one per user per answer."""

    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("answer_id", "user_id"),
        CheckConstraint("value IN (-1, 1)", name="value"),
    )

    id: Mapped[str] = mapped_column(Uuid, primary_key=True)
    answer_id: Mapped[str] = mapped_column(Uuid, ForeignKey("answers.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(SlackId)
    value: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(Text, default=None)


class CaptionRow(Base):
    """A cached vision-model caption of an image, keyed by image hash and model."""

    __tablename__ = "captions"

    image_hash: Mapped[str] = mapped_column(String(128), primary_key=True)
    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    caption: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class VectorGenerationRow(Base):
    """One build of the vector index: which models made its vectors, and its state.

    Exactly one generation is ``active`` (answers and new documents use it); ``folio
    reindex`` fills a ``building`` one from the stored files, then makes it active in one
    transaction and the old one ``retired`` until its store is dropped. ``store`` names
    the Qdrant collection or Edge folder: "" for the base name, else a suffix.
    """

    __tablename__ = "vector_generations"
    __table_args__ = (
        CheckConstraint("status IN ('building', 'active', 'retired')", name="status"),
        UniqueConstraint("store"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    store: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    clip_model: Mapped[str] = mapped_column(Text)
    clip_weights: Mapped[str] = mapped_column(String(64))
    clip_dim: Mapped[int] = mapped_column(Integer)
    text_model: Mapped[str] = mapped_column(Text)
    text_weights: Mapped[str] = mapped_column(String(64))
    text_dim: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    activated_at: Mapped[datetime | None]


class GenerationDocumentRow(Base):
    """A document whose points are complete in a generation of the vector index."""

    __tablename__ = "generation_documents"

    generation_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("vector_generations.id", ondelete="CASCADE"), primary_key=True
    )
    document_id: Mapped[str] = mapped_column(
        Uuid, ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )


# An autoincrementing 64-bit key; SQLite only autoincrements an INTEGER PRIMARY KEY.
Serial = BigInteger().with_variant(Integer(), "sqlite")


class PointOutboxRow(Base):
    """One vector-index write by a process that does not own the embedded index, in order.

    ``folio worker`` on the embedded index writes its upserts and deletes here; the process
    that owns the index (``folio serve``) applies them in ``id`` order and deletes them.
    """

    __tablename__ = "point_outbox"
    __table_args__ = (
        CheckConstraint("op IN ('upsert', 'delete', 'visibility')", name="op"),
        Index(None, "document_id"),
    )

    id: Mapped[int] = mapped_column(Serial, primary_key=True, autoincrement=True)
    generation_id: Mapped[int] = mapped_column(Integer)
    op: Mapped[str] = mapped_column(String(16))
    team_id: Mapped[str] = mapped_column(SlackId)
    # The document an upsert or delete is about ("" for a channel's visibility).
    document_id: Mapped[str] = mapped_column(String(64))
    points: Mapped[int] = mapped_column(Integer, default=0)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    job_id: Mapped[str | None] = mapped_column(Uuid)
    created_at: Mapped[datetime]


class WorkerRow(Base):
    """A running `folio worker` process, as its last heartbeat left it."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    started_at: Mapped[datetime]
    seen_at: Mapped[datetime] = mapped_column(index=True)
