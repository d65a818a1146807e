"""Answers remember folio's uploads of cited pages, so forgetting a document deletes them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add answers.uploaded_files (the Slack file ids of the page images posted with it)."""
    with op.batch_alter_table("answers") as batch:
        batch.add_column(sa.Column("uploaded_files", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop answers.uploaded_files."""
    with op.batch_alter_table("answers") as batch:
        batch.drop_column("uploaded_files")
