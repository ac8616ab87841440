"""Initial schema: key sets, keys, audit events, admin tokens.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from alembic import op

from keywell.store.tables import admin_tokens, audit, keys, keysets

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TABLES = (keysets, keys, audit, admin_tokens)


def upgrade() -> None:
    """Create the four tables."""
    bind = op.get_bind()
    for table in _TABLES:
        table.create(bind)
    op.create_index("ix_keywell_audit_keyset", "keywell_audit", ["keyset", "id"])
    op.create_index("ix_keywell_keys_keyset_state", "keywell_keys", ["keyset_id", "state"])


def downgrade() -> None:
    """Drop the four tables."""
    bind = op.get_bind()
    for table in reversed(_TABLES):
        table.drop(bind)
