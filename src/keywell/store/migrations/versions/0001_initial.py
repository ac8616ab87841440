"""Initial schema: key sets, keys, audit events, admin tokens.

Frozen: this file spells out the schema as it stood at revision 0001 and
never imports :mod:`keywell.store.tables`, so later edits to the tables
cannot change what an old migration creates. Times are
``DateTime(timezone=True)``, the type :class:`~keywell.store.tables.UTCDateTime`
stores through.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ONLY_ACTIVE = sa.text("state = 'active'")


def upgrade() -> None:
    """Create the four tables and their indexes."""
    op.create_table(
        "keywell_keysets",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("issuer", sa.Text(), nullable=False),
        sa.Column("alg", sa.String(20), nullable=False),
        sa.Column("key_size", sa.Integer(), nullable=True),
        sa.Column("rotation_period_us", sa.BigInteger(), nullable=False),
        sa.Column("prepublish_us", sa.BigInteger(), nullable=True),
        sa.Column("max_token_ttl_us", sa.BigInteger(), nullable=False),
        sa.Column("jwks_max_age_us", sa.BigInteger(), nullable=False),
        sa.Column("clock_skew_us", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "keywell_keys",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "keyset_id",
            sa.Integer(),
            sa.ForeignKey("keywell_keysets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kid", sa.String(200), nullable=False),
        sa.Column("alg", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("public_jwk", sa.Text(), nullable=True),
        sa.Column("private_ct", sa.LargeBinary(), nullable=True),
        sa.Column("kek_id", sa.String(100), nullable=True),
        sa.Column("max_ttl_us", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
        sa.UniqueConstraint("keyset_id", "kid", name="uq_keywell_keys_keyset_kid"),
    )
    # At most one active key per set, enforced by the database (DESIGN.md invariant 1).
    op.create_index(
        "uq_keywell_keys_one_active",
        "keywell_keys",
        ["keyset_id"],
        unique=True,
        sqlite_where=_ONLY_ACTIVE,
        postgresql_where=_ONLY_ACTIVE,
    )
    op.create_index("ix_keywell_keys_keyset_state", "keywell_keys", ["keyset_id", "state"])
    op.create_table(
        "keywell_audit",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("keyset", sa.String(200), nullable=True),
        sa.Column("kid", sa.String(200), nullable=True),
        sa.Column("old_state", sa.String(20), nullable=True),
        sa.Column("new_state", sa.String(20), nullable=True),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
    )
    op.create_index("ix_keywell_audit_keyset", "keywell_audit", ["keyset", "id"])
    op.create_table(
        "keywell_admin_tokens",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
    )


def downgrade() -> None:
    """Drop the indexes and the four tables, dependants first."""
    op.drop_table("keywell_admin_tokens")
    op.drop_index("ix_keywell_audit_keyset", table_name="keywell_audit")
    op.drop_table("keywell_audit")
    op.drop_index("ix_keywell_keys_keyset_state", table_name="keywell_keys")
    op.drop_index("uq_keywell_keys_one_active", table_name="keywell_keys")
    op.drop_table("keywell_keys")
    op.drop_table("keywell_keysets")
