"""Job lease tokens: every update of a running job presents the claim it was made under.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the lease token; jobs running now get none, so their holders' updates are refused
    and they are resumed once their lease runs out."""
    with op.batch_alter_table("ingestion_jobs") as batch:
        batch.add_column(sa.Column("lease_token", sa.String(length=36), nullable=True))


def downgrade() -> None:
    """Drop the lease token."""
    with op.batch_alter_table("ingestion_jobs") as batch:
        batch.drop_column("lease_token")
