"""The point outbox (index writes of processes that do not own the embedded index) and the
workers' heartbeats.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 23:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Serial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create ``point_outbox`` and ``workers``."""
    op.create_table(
        "point_outbox",
        sa.Column("id", Serial, autoincrement=True, nullable=False),
        sa.Column("generation_id", sa.Integer(), nullable=False),
        sa.Column("op", sa.String(length=16), nullable=False),
        sa.Column("team_id", sa.String(length=64), nullable=False),
        sa.Column("document_id", sa.String(length=64), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "op IN ('upsert', 'delete', 'visibility')", name=op.f("ck_point_outbox_op")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_point_outbox")),
    )
    op.create_index(op.f("ix_point_outbox_document_id"), "point_outbox", ["document_id"])
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    op.create_index(op.f("ix_workers_seen_at"), "workers", ["seen_at"])


def downgrade() -> None:
    """Drop both tables (points still in the outbox are lost: drain it first)."""
    op.drop_index(op.f("ix_workers_seen_at"), table_name="workers")
    op.drop_table("workers")
    op.drop_index(op.f("ix_point_outbox_document_id"), table_name="point_outbox")
    op.drop_table("point_outbox")
