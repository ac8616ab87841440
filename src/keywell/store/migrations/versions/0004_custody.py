"""Key custody: which backend holds a set's private keys, and each key's reference there.

Frozen like 0001. ``keywell_keysets.custody`` is the custody URI new keys of
the set are made in (``db``, the default, for keys sealed in this database);
``keywell_keys.custody`` is the URI the key itself lives in (NULL for sealed
keys; a key keeps its own when the set's custody moves) and
``keywell_keys.custody_ref`` the backend's reference (NULL once the backend
key is destroyed; set on an expired or revoked key while its destruction is
pending). A custody key has no ``private_ct`` and no ``kek_id``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the custody columns (every existing set and key is in ``db`` custody)."""
    with op.batch_alter_table("keywell_keysets", recreate="never") as batch:
        batch.add_column(sa.Column("custody", sa.Text(), nullable=False, server_default="db"))
    with op.batch_alter_table("keywell_keys", recreate="never") as batch:
        batch.add_column(sa.Column("custody", sa.Text(), nullable=True))
        batch.add_column(sa.Column("custody_ref", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop the custody columns (run it only on a store without custody keys)."""
    # ALTER TABLE ... DROP COLUMN in place (SQLite 3.35+): a batch copy would drop
    # and re-create keywell_keysets, whose ON DELETE CASCADE would empty keywell_keys.
    with op.batch_alter_table("keywell_keys", recreate="never") as batch:
        batch.drop_column("custody_ref")
        batch.drop_column("custody")
    with op.batch_alter_table("keywell_keysets", recreate="never") as batch:
        batch.drop_column("custody")
