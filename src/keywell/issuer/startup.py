"""Issuer start-up: choosing the KEK ring and opening a store at the latest schema.

The KEK comes from the caller, else from the environment (``KEYWELL_KEK``,
``KEYWELL_KEKS``, ``KEYWELL_KEK_FILE``); outside production a SQLite file may
fall back to a development KEK kept beside it (with a warning), but only when
none of those variables is set: one set but empty is an error. Production
never falls back. Once the schema is checked, the ring must prove it opens
what the store holds (:mod:`keywell.store.kek_check`) or the open is refused;
opening records nothing (KEKs the store does not know are logged, never used).
"""

from __future__ import annotations

import logging
from pathlib import Path

from keywell.errors import KEKError
from keywell.store.engine import make_engine, sqlite_file
from keywell.store.kek import KEKRing
from keywell.store.kek_check import needed_ids
from keywell.store.migrate import SchemaError, check_schema, upgrade_engine
from keywell.store.repository import Store

__all__ = ["open_store", "resolve_keks"]

_log = logging.getLogger("keywell.kek")


def resolve_keks(url: str, keks: KEKRing | None, production: bool) -> KEKRing | Path:
    """The KEK ring to use for the database at ``url``, or the development KEK file to use.

    A development KEK file that does not exist yet is returned as its path:
    :func:`open_store` creates it only once the store is known to need no
    other KEK, so a failed open writes nothing.

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
        file = db.with_name(db.name + ".kek")
        return KEKRing.development(file) if file.exists() else file
    raise KEKError("no KEK configured: set KEYWELL_KEK or KEYWELL_KEK_FILE")


def open_store(url: str, keks: KEKRing | None, *, production: bool, auto_upgrade: bool) -> Store:
    """Resolve the KEKs, connect, migrate if asked, and check the schema is at head.

    Nothing is written when the open fails: a missing SQLite file is not
    created unless ``auto_upgrade`` will migrate it, and a development KEK
    file is created only after the store proved it needs no other KEK.

    Raises:
        KEKError: no usable KEK configuration, or the KEKs cannot open the keys
            (or fail the check values) already in the store; the message names
            the KEK ids configured and the ids the store needs.
        keywell.store.SchemaError: the schema is not at the latest migration
            (or, without ``auto_upgrade``, there is no SQLite file yet).
    """
    found = resolve_keks(url, keks, production)
    db = sqlite_file(url)
    if db is not None and not auto_upgrade and not db.exists():
        raise SchemaError(f"no database at {db}: run `keywell db upgrade` (or auto_upgrade)")
    engine = make_engine(url)
    try:
        if auto_upgrade:
            upgrade_engine(engine)
        check_schema(engine)
        if isinstance(found, Path):
            with engine.connect() as conn:
                needed = needed_ids(conn)
            if needed:
                raise KEKError(
                    f"no KEK configured, and the store's keys are sealed under KEK ids {needed}: "
                    "set KEYWELL_KEK, KEYWELL_KEKS or KEYWELL_KEK_FILE",
                    kek_id=needed[0],
                )
            found = KEKRing.development(found)
        store = Store(engine, found)
        unknown = store.check_keks().unknown  # records nothing: reading never writes
        if unknown:
            _log.warning("KEK ids %s are unknown to the store: they seal nothing", unknown)
    except BaseException:
        engine.dispose()
        raise
    return store
