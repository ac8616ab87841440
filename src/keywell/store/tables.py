"""The schema: key sets, keys (sealed or in a custody), audit events, admin tokens, KEK checks.

SQLAlchemy 2 Core tables the repository queries. Migrations never import them:
each revision spells out its own DDL, and ``tests/store/test_migrations.py``
checks that the migrated schema equals this one.
Times are stored as UTC (``timestamptz`` on PostgreSQL, ISO text on SQLite)
and always come back timezone-aware; durations are integer microseconds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = [
    "UTCDateTime",
    "admin_tokens",
    "audit",
    "dpop_replay",
    "kek_checks",
    "keys",
    "keysets",
    "metadata",
    "one_active_key",
]


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite keeps naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes; store UTC."""
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError("keywell stores timezone-aware datetimes only")
        utc: datetime = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        if not isinstance(value, datetime):  # pragma: no cover - driver contract
            raise TypeError("unexpected datetime value from the database")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

keysets = Table(
    "keywell_keysets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("issuer", Text, nullable=False),
    Column("alg", String(20), nullable=False),
    Column("key_size", Integer, nullable=True),
    Column("rotation_period_us", BigInteger, nullable=False),
    Column("prepublish_us", BigInteger, nullable=True),
    Column("max_token_ttl_us", BigInteger, nullable=False),
    Column("jwks_max_age_us", BigInteger, nullable=False),
    Column("clock_skew_us", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # the custody URI new keys are made in (keywell.custody.uri); "db": sealed here
    Column("custody", Text, nullable=False, server_default="db"),
)

keys = Table(
    "keywell_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "keyset_id", Integer, ForeignKey("keywell_keysets.id", ondelete="CASCADE"), nullable=False
    ),
    Column("kid", String(200), nullable=False),
    Column("alg", String(20), nullable=False),
    Column("state", String(20), nullable=False),
    Column("public_jwk", Text, nullable=True),  # NULL for HMAC keys: no public form
    Column("private_ct", LargeBinary, nullable=True),  # nonce || AES-256-GCM ciphertext
    Column("kek_id", String(100), nullable=True),
    Column("max_ttl_us", BigInteger, nullable=False),  # longest token TTL while it could sign
    Column("created_at", UTCDateTime, nullable=False),
    Column("published_at", UTCDateTime, nullable=True),
    Column("activated_at", UTCDateTime, nullable=True),
    Column("retired_at", UTCDateTime, nullable=True),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("revoke_reason", Text, nullable=True),
    # custody keys: the URI the key lives in (NULL: sealed in private_ct) and the
    # backend's reference (NULL once destroyed there; kept while a destroy is pending)
    Column("custody", Text, nullable=True),
    Column("custody_ref", Text, nullable=True),
    UniqueConstraint("keyset_id", "kid", name="uq_keywell_keys_keyset_kid"),
    Index("ix_keywell_keys_keyset_state", "keyset_id", "state"),
)

# At most one active key per set, enforced by the database itself (invariant 1).
one_active_key = Index(
    "uq_keywell_keys_one_active",
    keys.c.keyset_id,
    unique=True,
    sqlite_where=keys.c.state == "active",
    postgresql_where=keys.c.state == "active",
)

audit = Table(
    "keywell_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("keyset", String(200), nullable=True),
    Column("kid", String(200), nullable=True),
    Column("old_state", String(20), nullable=True),
    Column("new_state", String(20), nullable=True),
    Column("action", String(50), nullable=False),
    Column("reason", Text, nullable=True),
    Index("ix_keywell_audit_keyset", "keyset", "id"),
)

admin_tokens = Table(
    "keywell_admin_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),  # hex SHA-256 of the secret
    Column("name", String(200), nullable=False),
    Column("scopes", Text, nullable=False),  # space-separated
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked", Boolean, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),  # None: never (tokens made before 0002)
)

# One check value per KEK id the store knows (keywell.store.kek_check); the
# highest id is the KEK most recently introduced to seal new keys.
kek_checks = Table(
    "keywell_kek_checks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kek_id", String(100), nullable=False, unique=True),
    Column("check_value", LargeBinary, nullable=False),  # nonce || AES-256-GCM(constant)
    Column("recorded_at", UTCDateTime, nullable=False),
)

# Accepted DPoP proofs until they expire (keywell.store.dpop_replay, RFC 9449 11.1).
dpop_replay = Table(
    "keywell_dpop_replay",
    metadata,
    Column("proof", String(64), primary_key=True),  # hex SHA-256 of key thumbprint and jti
    Column("expires_at", Float, nullable=False),  # seconds since the epoch
    Index("ix_keywell_dpop_replay_expires", "expires_at"),
)
