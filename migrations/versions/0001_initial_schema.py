"""Initial schema: documents, pages, files, jobs, events, settings, answers, feedback, captions.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SlackId = sa.String(length=64)
Uuid = sa.String(length=36)


def utc() -> sa.DateTime:
    """Timezone-aware timestamp (timestamptz on PostgreSQL; naive UTC text on SQLite)."""
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create every table folio uses."""
    op.create_table(
        "documents",
        sa.Column("id", Uuid, nullable=False),
        sa.Column("team_id", SlackId, nullable=False),
        sa.Column("channel_id", SlackId, nullable=False),
        sa.Column("channel_private", sa.Boolean(), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("page_count", sa.Integer(), nullable=False),
        sa.Column("figure_count", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("slack_file_id", SlackId, nullable=True),
        sa.Column("uploader_id", SlackId, nullable=True),
        sa.Column("permalink", sa.Text(), nullable=True),
        sa.Column("created_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents")),
        sa.UniqueConstraint(
            "team_id",
            "channel_id",
            "content_hash",
            name=op.f("uq_documents_team_id_channel_id_content_hash"),
        ),
    )
    op.create_index(
        op.f("ix_documents_team_id_slack_file_id"), "documents", ["team_id", "slack_file_id"]
    )
    op.create_index(op.f("ix_documents_team_id_created_at"), "documents", ["team_id", "created_at"])

    op.create_table(
        "document_files",
        sa.Column("document_id", Uuid, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_document_files_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("document_id", name=op.f("pk_document_files")),
    )

    op.create_table(
        "pages",
        sa.Column("document_id", Uuid, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("width", sa.Float(), nullable=False),
        sa.Column("height", sa.Float(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("figure_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_pages_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("document_id", "number", name=op.f("pk_pages")),
    )

    op.create_table(
        "ingestion_jobs",
        sa.Column("id", Uuid, nullable=False),
        sa.Column("team_id", SlackId, nullable=False),
        sa.Column("channel_id", SlackId, nullable=False),
        sa.Column("channel_private", sa.Boolean(), nullable=False),
        sa.Column("slack_file_id", SlackId, nullable=True),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("user_id", SlackId, nullable=True),
        sa.Column("message_ts", SlackId, nullable=True),
        sa.Column("thread_ts", SlackId, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", utc(), nullable=True),
        sa.Column("worker_id", sa.String(length=128), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("document_id", Uuid, nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("updated_at", utc(), nullable=False),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed')",
            name=op.f("ck_ingestion_jobs_status"),
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_ingestion_jobs_document_id_documents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingestion_jobs")),
        sa.UniqueConstraint(
            "team_id",
            "channel_id",
            "slack_file_id",
            name=op.f("uq_ingestion_jobs_team_id_channel_id_slack_file_id"),
        ),
    )
    op.create_index(
        op.f("ix_ingestion_jobs_status_created_at"), "ingestion_jobs", ["status", "created_at"]
    )

    op.create_table(
        "slack_events",
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("team_id", SlackId, nullable=False),
        sa.Column("received_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_slack_events")),
    )
    op.create_index(op.f("ix_slack_events_received_at"), "slack_events", ["received_at"])

    op.create_table(
        "channel_settings",
        sa.Column("team_id", SlackId, nullable=False),
        sa.Column("channel_id", SlackId, nullable=False),
        sa.Column("indexing", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("followups", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("updated_by", SlackId, nullable=True),
        sa.Column("updated_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "channel_id", name=op.f("pk_channel_settings")),
    )

    op.create_table(
        "answers",
        sa.Column("id", Uuid, nullable=False),
        sa.Column("team_id", SlackId, nullable=False),
        sa.Column("channel_id", SlackId, nullable=False),
        sa.Column("thread_ts", SlackId, nullable=True),
        sa.Column("user_id", SlackId, nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("standalone_question", sa.Text(), nullable=True),
        sa.Column("answer_text", sa.Text(), nullable=False),
        sa.Column("mode", sa.String(length=32), nullable=False),
        sa.Column("citations", sa.JSON(), nullable=False),
        sa.Column("message_ts", SlackId, nullable=True),
        sa.Column("created_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_answers")),
    )
    op.create_index(
        op.f("ix_answers_team_id_channel_id_thread_ts"),
        "answers",
        ["team_id", "channel_id", "thread_ts"],
    )
    op.create_index(
        op.f("ix_answers_team_id_channel_id_message_ts"),
        "answers",
        ["team_id", "channel_id", "message_ts"],
    )
    op.create_index(op.f("ix_answers_team_id_created_at"), "answers", ["team_id", "created_at"])

    op.create_table(
        "feedback",
        sa.Column("id", Uuid, nullable=False),
        sa.Column("answer_id", Uuid, nullable=False),
        sa.Column("user_id", SlackId, nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.CheckConstraint("value IN (-1, 1)", name=op.f("ck_feedback_value")),
        sa.ForeignKeyConstraint(
            ["answer_id"],
            ["answers.id"],
            name=op.f("fk_feedback_answer_id_answers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
        sa.UniqueConstraint("answer_id", "user_id", name=op.f("uq_feedback_answer_id_user_id")),
    )

    op.create_table(
        "captions",
        sa.Column("image_hash", sa.String(length=128), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("caption", sa.Text(), nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("image_hash", "model", name=op.f("pk_captions")),
    )


def downgrade() -> None:
    """Drop every table, dependents first (indexes go with their tables)."""
    for table in (
        "captions",
        "feedback",
        "answers",
        "channel_settings",
        "slack_events",
        "ingestion_jobs",
        "pages",
        "document_files",
        "documents",
    ):
        op.drop_table(table)
