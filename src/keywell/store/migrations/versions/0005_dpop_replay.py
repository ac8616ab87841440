"""Seen DPoP proofs: ``keywell_dpop_replay`` (RFC 9449 section 11.1).

Frozen like 0001. One row per accepted proof (the hex SHA-256 of its key
thumbprint and ``jti``) until it expires, in seconds since the epoch; expired
rows are reused or purged by :mod:`keywell.store.dpop_replay`.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``keywell_dpop_replay``."""
    op.create_table(
        "keywell_dpop_replay",
        sa.Column("proof", sa.String(64), primary_key=True),
        sa.Column("expires_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_keywell_dpop_replay_expires", "keywell_dpop_replay", ["expires_at"])


def downgrade() -> None:
    """Drop ``keywell_dpop_replay`` (proofs seen so far are forgotten)."""
    op.drop_table("keywell_dpop_replay")
