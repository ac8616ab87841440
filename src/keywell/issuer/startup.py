"""Issuer start-up: choosing the KEK ring and opening a store at the latest schema.

The KEK comes from the caller, else from the environment (``KEYWELL_KEK``,
``KEYWELL_KEKS``, ``KEYWELL_KEK_FILE``); outside production a SQLite file may
fall back to a development KEK kept beside it (with a warning), but only when
none of those variables is set: one set but empty is an error. Production
never falls back. Once the schema is checked, the ring must prove it opens
what the store holds (:mod:`keywell.store.kek_check`) or the open is refused.
"""

from __future__ import annotations

from datetime import UTC, datetime

from keywell.errors import KEKError
from keywell.store.engine import make_engine, sqlite_file
from keywell.store.kek import KEKRing
from keywell.store.migrate import check_schema, upgrade_engine
from keywell.store.repository import Store

__all__ = ["open_store", "resolve_keks"]


def resolve_keks(url: str, keks: KEKRing | None, production: bool) -> KEKRing:
    """The KEK ring to use for the database at ``url``.

    Raises:
        KEKError: none was given or configured, and no development KEK applies.
    """
    if keks is not None:
        return keks
    ring = KEKRing.from_env()
    if ring is not None:
        return ring
    if production:
        raise KEKError("production mode needs an explicit KEK: set KEYWELL_KEK or KEYWELL_KEK_FILE")
    db = sqlite_file(url)
    if db is not None:
        return KEKRing.development(db.with_name(db.name + ".kek"))
    raise KEKError("no KEK configured: set KEYWELL_KEK or KEYWELL_KEK_FILE")


def open_store(url: str, keks: KEKRing | None, *, production: bool, auto_upgrade: bool) -> Store:
    """Resolve the KEKs, connect, migrate if asked, and check the schema is at head.

    Raises:
        KEKError: no usable KEK configuration, or the KEKs cannot open the keys
            (or fail the check values) already in the store; the message names
            the KEK ids configured and the ids the store needs.
        keywell.store.SchemaError: the schema is not at the latest migration.
    """
    ring = resolve_keks(url, keks, production)
    engine = make_engine(url)
    store = Store(engine, ring)
    try:
        if auto_upgrade:
            upgrade_engine(engine)
        check_schema(engine)
        store.check_keks(datetime.now(UTC), record=True)
    except BaseException:
        engine.dispose()
        raise
    return store
