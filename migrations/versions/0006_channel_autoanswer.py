"""Help channels: a channel may ask folio to answer its top-level questions unmentioned.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 23:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the switch, off for every channel that has settings already."""
    with op.batch_alter_table("channel_settings") as batch:
        batch.add_column(
            sa.Column("autoanswer", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    """Drop the switch."""
    with op.batch_alter_table("channel_settings") as batch:
        batch.drop_column("autoanswer")
