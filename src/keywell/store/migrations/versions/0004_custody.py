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

from keywell.errors import KeySetError

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
    """Drop the custody columns; refused while a set or a key is in a custody backend.

    Dropping ``custody_ref`` would leave backend keys no row names (never
    destroyed) and keys with no private half. Move each such set back to
    ``db`` and let its custody keys expire or revoke them (their backend keys
    destroyed) first.

    Raises:
        KeySetError: a set's custody is not ``db``, or a key still names a backend key.
    """
    conn = op.get_bind()
    sets = conn.execute(sa.text("SELECT COUNT(*) FROM keywell_keysets WHERE custody <> 'db'"))
    keys = conn.execute(sa.text("SELECT COUNT(*) FROM keywell_keys WHERE custody_ref IS NOT NULL"))
    in_custody, named = sets.scalar_one(), keys.scalar_one()
    if in_custody or named:
        raise KeySetError(
            f"cannot downgrade below 0004: {in_custody} key set(s) in a custody backend and "
            f"{named} key(s) naming a backend key; move the sets to db custody and let "
            "their custody keys expire (or revoke them) first"
        )
    # ALTER TABLE ... DROP COLUMN in place (SQLite 3.35+): a batch copy would drop
    # and re-create keywell_keysets, whose ON DELETE CASCADE would empty keywell_keys.
    with op.batch_alter_table("keywell_keys", recreate="never") as batch:
        batch.drop_column("custody_ref")
        batch.drop_column("custody")
    with op.batch_alter_table("keywell_keysets", recreate="never") as batch:
        batch.drop_column("custody")
