"""A 👎 may carry the reason its voter gave in folio's feedback modal.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 23:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add feedback.reason (optional text from the 👎 modal)."""
    with op.batch_alter_table("feedback") as batch:
        batch.add_column(sa.Column("reason", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop feedback.reason."""
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("reason")
