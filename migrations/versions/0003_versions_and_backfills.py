"""New versions and backfills: superseded documents, and runs over a channel's existing files.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Uuid = sa.String(length=36)
SlackId = sa.String(length=64)


def upgrade() -> None:
    """Add documents.superseded_at, the backfills table and ingestion_jobs.backfill_id."""
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "backfills",
        sa.Column("id", Uuid, nullable=False),
        sa.Column("team_id", SlackId, nullable=False),
        sa.Column("channel_id", SlackId, nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("message_ts", SlackId, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backfills")),
    )
    with op.batch_alter_table("ingestion_jobs") as batch:
        batch.add_column(sa.Column("backfill_id", Uuid, nullable=True))
        batch.create_index(batch.f("ix_ingestion_jobs_backfill_id"), ["backfill_id"])
        batch.create_foreign_key(
            batch.f("fk_ingestion_jobs_backfill_id_backfills"),
            "backfills",
            ["backfill_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    """Remove them again."""
    with op.batch_alter_table("ingestion_jobs") as batch:
        batch.drop_constraint(
            batch.f("fk_ingestion_jobs_backfill_id_backfills"), type_="foreignkey"
        )
        batch.drop_index(batch.f("ix_ingestion_jobs_backfill_id"))
        batch.drop_column("backfill_id")
    op.drop_table("backfills")
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("superseded_at")
