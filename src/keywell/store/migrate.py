"""Alembic migrations shipped inside the package, applied programmatically.

``upgrade(url)`` is what ``keywell db upgrade`` runs; :func:`check_schema`
is what :class:`keywell.Issuer` runs at start-up. No ``alembic.ini`` is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from keywell.errors import KeywellError
from keywell.store.engine import WRITE_OPTION, create_private_file, make_engine

__all__ = [
    "SchemaError",
    "check_schema",
    "downgrade_engine",
    "head_revision",
    "upgrade",
    "upgrade_engine",
]

_SCRIPTS = Path(__file__).resolve().parent / "migrations"
_PG_LOCK_ID = 0x6B65_7977  # "keyw": serialises concurrent upgrades on PostgreSQL


class SchemaError(KeywellError):
    """The database schema is missing or not at the latest migration."""

    code = "KW_SCHEMA"


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    return cfg


def head_revision() -> str:
    """The newest migration revision shipped with this keywell."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:  # pragma: no cover - the package ships migrations
        raise SchemaError("no migrations shipped")
    return head


def upgrade_engine(engine: Engine) -> None:
    """Apply every pending migration on ``engine`` (serialised across processes).

    A SQLite file that does not exist yet is created first, mode 0600.
    """
    create_private_file(engine)
    _migrate(engine, command.upgrade, "head")


def downgrade_engine(engine: Engine, revision: str = "base") -> None:
    """Undo migrations down to ``revision`` (``base``: no keywell tables; destroys keys)."""
    _migrate(engine, command.downgrade, revision)


def _migrate(engine: Engine, step: Callable[[Config, str], None], revision: str) -> None:
    cfg = _config()
    with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
        cfg.attributes["connection"] = conn
        step(cfg, revision)


def upgrade(database_url: str) -> None:
    """Apply every pending migration to the database at ``database_url``."""
    engine = make_engine(database_url)
    try:
        upgrade_engine(engine)
    finally:
        engine.dispose()


def check_schema(engine: Engine) -> None:
    """Raise :class:`SchemaError` unless the schema is at the latest migration."""
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        conn.rollback()
    head = head_revision()
    if current != head:
        raise SchemaError(
            f"database schema is at {current or 'nothing'}, keywell needs {head}: "
            "run `keywell db upgrade`"
        )
