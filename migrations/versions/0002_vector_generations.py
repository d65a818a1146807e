"""Vector generations: which models made the index's vectors, and which documents it holds.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Uuid = sa.String(length=36)


def upgrade() -> None:
    """Create the generation tables (the first generation is recorded by folio at start)."""
    op.create_table(
        "vector_generations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("store", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("clip_model", sa.Text(), nullable=False),
        sa.Column("clip_weights", sa.String(length=64), nullable=False),
        sa.Column("clip_dim", sa.Integer(), nullable=False),
        sa.Column("text_model", sa.Text(), nullable=False),
        sa.Column("text_weights", sa.String(length=64), nullable=False),
        sa.Column("text_dim", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('building', 'active', 'retired')",
            name=op.f("ck_vector_generations_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vector_generations")),
        sa.UniqueConstraint("store", name=op.f("uq_vector_generations_store")),
    )
    op.create_table(
        "generation_documents",
        sa.Column("generation_id", sa.Integer(), nullable=False),
        sa.Column("document_id", Uuid, nullable=False),
        sa.ForeignKeyConstraint(
            ["generation_id"],
            ["vector_generations.id"],
            name=op.f("fk_generation_documents_generation_id_vector_generations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_generation_documents_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "generation_id", "document_id", name=op.f("pk_generation_documents")
        ),
    )


def downgrade() -> None:
    """Drop the generation tables."""
    op.drop_table("generation_documents")
    op.drop_table("vector_generations")
