"""Admin tokens expire: ``keywell_admin_tokens.expires_at``.

Frozen like 0001. The column is nullable: a token created before this
revision has no expiry (``keywell admin-token list`` shows it as ``never``
so it can be revoked); every token created since gets one.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the expiry column."""
    with op.batch_alter_table("keywell_admin_tokens") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Drop the expiry column (tokens then never expire)."""
    with op.batch_alter_table("keywell_admin_tokens") as batch:
        batch.drop_column("expires_at")
