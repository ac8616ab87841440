"""A throw-away PostgreSQL database per test: created on the server, dropped after."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

HOST = os.environ.get("KEYWELL_TEST_PG_HOST", "127.0.0.1")
PORT = int(os.environ.get("KEYWELL_TEST_PG_PORT", "5432"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _admin_connect() -> tuple[psycopg.Connection, str]:
    errors = []
    for user in ("postgres", "root"):
        try:
            conn = psycopg.connect(
                host=HOST, port=PORT, user=user, dbname="test", autocommit=True, connect_timeout=3
            )
        except psycopg.OperationalError as exc:
            errors.append(f"{user}: {exc}")
            continue
        return conn, user
    reason = f"no PostgreSQL server answers at {HOST}:{PORT} ({'; '.join(errors)})"
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


@contextmanager
def fresh_database() -> Iterator[str]:
    """Create ``keywell_test_<random>``; yield its SQLAlchemy URL; drop it afterwards."""
    admin, user = _admin_connect()
    name = f"keywell_test_{secrets.token_hex(6)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql+psycopg://{user}@{HOST}:{PORT}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def dump_tables(url: str) -> bytes:
    """Every keywell table's rows as ``COPY ... TO STDOUT`` text, plus bytea columns raw."""
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    out = bytearray()
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        for table in ("keywell_keysets", "keywell_keys", "keywell_audit", "keywell_admin_tokens"):
            with cur.copy(f"COPY {table} TO STDOUT") as copy:
                for chunk in copy:
                    out += bytes(chunk)
        cur.execute("SELECT private_ct FROM keywell_keys WHERE private_ct IS NOT NULL")
        for (blob,) in cur.fetchall():
            out += bytes(blob)
    return bytes(out)
