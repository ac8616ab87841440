"""keywell.store: persistence of key sets, keys and audit events (SQLAlchemy 2).

SQLite (WAL) is the embedded default; PostgreSQL through psycopg 3 serves many
replicas. Private JWKs are sealed with AES-256-GCM under a :class:`KEKRing`.
Needs the ``store`` extra (and ``postgres`` for PostgreSQL).
"""

from keywell.store.dpop_replay import SQLReplayStore
from keywell.store.engine import make_engine
from keywell.store.kek import DevelopmentKEKWarning, KEKRing
from keywell.store.migrate import SchemaError, check_schema, head_revision, upgrade
from keywell.store.repository import LockedSet, Store

__all__ = [
    "DevelopmentKEKWarning",
    "KEKRing",
    "LockedSet",
    "SQLReplayStore",
    "SchemaError",
    "Store",
    "check_schema",
    "head_revision",
    "make_engine",
    "upgrade",
]
