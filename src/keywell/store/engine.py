"""Engines for SQLite (embedded, WAL) and PostgreSQL (psycopg 3, many replicas).

SQLite: the Python driver's own transaction handling is switched off and
``BEGIN`` / ``BEGIN IMMEDIATE`` are emitted by us, so a write transaction holds
the database write lock from its first statement: two processes can never
both read the same state and both decide a rotation. PostgreSQL locks the
key-set row with ``SELECT ... FOR UPDATE`` instead (see the repository).

A new SQLite database file is created by :func:`create_private_file`, mode
0600 whatever the umask, before the migrations (the first write to any
keywell database) let SQLite open it for writing; SQLite gives the ``-wal``
and ``-shm`` files it creates the main file's permissions, so the sealed keys
and the admin-token hashes are readable by the owner alone. An existing file
keeps its mode; a read of a missing database creates nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool

__all__ = ["WRITE_OPTION", "DatabaseError", "create_private_file", "make_engine", "sqlite_file"]

#: The base class of every database failure (a driver's, a URL's, a statement's).
DatabaseError = SQLAlchemyError

WRITE_OPTION = "keywell_write"
"""Execution option asking for a write-locking transaction (``BEGIN IMMEDIATE`` on SQLite)."""

_BUSY_TIMEOUT_MS = 30_000


def sqlite_file(url: str) -> Path | None:
    """The database file a ``sqlite:///`` URL names.

    ``None`` for memory, ``file:`` URIs (``?uri=true``) and other backends.

    Raises:
        DatabaseError: ``url`` is not a database URL.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    if parsed.query.get("uri") in ("true", "1"):
        return None
    return Path(parsed.database or "")


def make_engine(url: str) -> Engine:
    """Create the engine for ``url`` with keywell's per-backend settings.

    Raises:
        ValueError: the URL names a backend other than SQLite or PostgreSQL.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url, memory=parsed.database in (None, "", ":memory:"))
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_pre_ping=True)
    raise ValueError(f"unsupported database backend {backend!r}: use sqlite or postgresql")


def create_private_file(engine: Engine) -> None:
    """Create the SQLite file of ``engine`` with mode 0600 if it does not exist yet.

    Nothing is done for PostgreSQL, an in-memory database or a ``file:`` URI.
    """
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    if url.query.get("uri") in ("true", "1"):
        return
    try:
        fd = os.open(url.database or "", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError:
        return  # a missing directory and the like: SQLite reports it when it connects
    try:
        os.fchmod(fd, 0o600)  # the mode above is masked by the umask; this is not
    finally:
        os.close(fd)


def _sqlite_engine(url: str, *, memory: bool) -> Engine:
    kwargs: dict[str, Any] = {
        "connect_args": {"check_same_thread": False, "timeout": _BUSY_TIMEOUT_MS / 1000},
    }
    if memory:
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine
