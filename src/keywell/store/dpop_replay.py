"""DPoP proofs seen, shared by every process on one database (RFC 9449 section 11.1).

:class:`SQLReplayStore` is a :class:`keywell.jose.ReplayStore` over the table
``keywell_dpop_replay`` (migration ``0005``), on SQLite or PostgreSQL.
The one atomic step is an upsert that only overwrites an *expired* row::

    INSERT INTO keywell_dpop_replay (proof, expires_at) VALUES (:key, :expires)
    ON CONFLICT (proof) DO UPDATE SET expires_at = excluded.expires_at
    WHERE keywell_dpop_replay.expires_at <= :now
    RETURNING proof

A row returned: first use. None: a live row holds the key, a replay (the
driver's ``rowcount`` is not relied on: psycopg reports -1 here). Both
backends serialise the conflict on the primary key, so of two processes
racing with one proof exactly one sees a row changed. Every ``purge_every``
inserts, rows expired for a while are deleted in the same transaction.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Engine, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from keywell.errors import ReplayStoreError
from keywell.store.engine import WRITE_OPTION, make_engine
from keywell.store.tables import dpop_replay

__all__ = ["SQLReplayStore"]


class SQLReplayStore:
    """Remember accepted DPoP proofs in the keywell database.

    Args:
        database: a database URL (``sqlite:///...``, ``postgresql://...``)
            or an Engine from :func:`keywell.store.make_engine`; the schema
            must be at head (``keywell db upgrade``).
        purge_every: delete expired rows once per this many recorded proofs.

    Raises:
        ValueError: an unsupported URL or a non-positive ``purge_every``.
    """

    def __init__(self, database: str | Engine, *, purge_every: int = 1000) -> None:
        if isinstance(purge_every, bool) or not isinstance(purge_every, int) or purge_every <= 0:
            raise ValueError("purge_every must be a positive integer")
        self._owned = isinstance(database, str)
        self._engine = make_engine(database) if isinstance(database, str) else database
        self._writer = self._engine.execution_options(**{WRITE_OPTION: True})
        dialect = self._engine.dialect.name
        self._insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
        self._purge_every = purge_every
        self._count = 0

    def first_use(self, key: str, expires_at: float, now: float) -> bool:
        """See :class:`keywell.jose.ReplayStore`; a database failure raises ReplayStoreError."""
        stmt = self._insert(dpop_replay).values(proof=key, expires_at=expires_at)
        stmt = stmt.on_conflict_do_update(
            index_elements=[dpop_replay.c.proof],
            set_={"expires_at": stmt.excluded.expires_at},
            where=dpop_replay.c.expires_at <= now,
        ).returning(dpop_replay.c.proof)
        self._count += 1
        purge = self._count % self._purge_every == 0
        try:
            with self._writer.begin() as conn:
                changed = len(conn.execute(stmt).fetchall())
                if purge:
                    conn.execute(delete(dpop_replay).where(dpop_replay.c.expires_at <= now))
        except SQLAlchemyError as exc:
            raise ReplayStoreError(f"the SQL replay store failed: {type(exc).__name__}") from exc
        return changed == 1

    async def afirst_use(self, key: str, expires_at: float, now: float) -> bool:
        """:meth:`first_use` in a worker thread, so the event loop is not blocked."""
        return await asyncio.to_thread(self.first_use, key, expires_at, now)

    def close(self) -> None:
        """Dispose of the engine if this store created it."""
        if self._owned:
            self._engine.dispose()

    def __repr__(self) -> str:
        """The backend only, never the URL (it may hold a password)."""
        return f"<SQLReplayStore {self._engine.dialect.name}>"
