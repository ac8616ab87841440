"""KEK check values: one sealed constant per KEK id the store knows.

Frozen like 0001: the DDL is spelled out here, never imported from
:mod:`keywell.store.tables`. The table starts empty; the first process whose
KEK ring opens the keys already in the store records the check values
(:mod:`keywell.store.kek_check`).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``keywell_kek_checks``."""
    op.create_table(
        "keywell_kek_checks",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kek_id", sa.String(100), nullable=False, unique=True),
        sa.Column("check_value", sa.LargeBinary(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop ``keywell_kek_checks`` (the next start records the check values again)."""
    op.drop_table("keywell_kek_checks")
