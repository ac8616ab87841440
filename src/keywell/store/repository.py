"""Transactions over the store: reads, and writes that lock one key set.

Every change to a key set runs in :meth:`Store.locked`: one transaction that
takes the set's lock first (``SELECT ... FOR UPDATE`` on PostgreSQL; on
SQLite the database write lock, taken by ``BEGIN IMMEDIATE``), then re-reads
the set and its keys, so the caller plans on the state nobody else can change
until it commits. Each committed change bumps the set's ``version``. A process
dying mid-transaction leaves the previous committed state (DESIGN.md
invariant 6). The locked set itself is :class:`keywell.store.locked.LockedSet`;
backend keys no committed row names are destroyed once the transaction has
ended (:mod:`keywell.store.custody_keys`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from keywell.custody.uri import DB
from keywell.errors import KeySetNotFoundError
from keywell.jose.jwk import JWK
from keywell.lifecycle import KeyInfo, KeySetInfo, RotationPolicy, Step
from keywell.lifecycle.names import known_kid, known_name
from keywell.store import tables as t
from keywell.store.custody_keys import BackendSpare, destroy_doomed, discard, make_spares
from keywell.store.engine import WRITE_OPTION
from keywell.store.kek import KEKRing
from keywell.store.kek_check import Verdict, hold_sealing, verify_ring
from keywell.store.locked import LockedSet, Spare
from keywell.store.rows import key_info, keyset_info

__all__ = ["LockedSet", "SigningMaterial", "Spare", "Store"]


@dataclass(frozen=True, slots=True)
class SigningMaterial:
    """What signs for a key: its private JWK (``db``), or its custody URI, ref and public JWK."""

    private: JWK | None
    custody: str
    ref: str | None
    public: JWK | None


class Store:
    """The database behind an Issuer: engine, KEKs and transaction helpers."""

    def __init__(self, engine: Engine, keks: KEKRing) -> None:
        self.engine = engine
        self.keks = keks

    def check_keks(self) -> Verdict:
        """The KEK verdict (sealing KEK, unknown ids); records nothing.

        Raises:
            KEKError: the KEKs cannot open what the store needs.
        """
        with self.read() as conn:
            return verify_ring(conn, self.keks, now=None, record=False)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A short read transaction."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction holding the SQLite write lock from its start."""
        conn_cm = self.engine.connect().execution_options(**{WRITE_OPTION: True})
        with conn_cm as conn, conn.begin():
            yield conn

    def spare_keys(
        self, name: str, steps_of: Callable[[RotationPolicy, list[KeyInfo]], Sequence[Step]]
    ) -> list[Spare]:
        """Generate, outside any lock, the fresh keys ``steps_of`` would create now.

        Key generation (RSA especially, and any backend call) is the slow part
        of a transition; done here, the locked transaction only inserts. The
        steps are planned again under the lock; spares it does not need are
        destroyed (:func:`keywell.store.custody_keys.discard`). In a custody
        set, the keys are made in the set's custody backend.

        Raises:
            KEKError: (``db`` custody) the KEKs cannot open what the store needs.
            CustodyError: the backend failed; no key is left behind.
        """
        with self.read() as conn:
            query = select(t.keysets).where(t.keysets.c.name == known_name(name))
            row = conn.execute(query).one_or_none()
            if row is None:
                return []
            keys = self.keys_of(conn, row.id)
        info = keyset_info(row)
        try:
            steps = steps_of(info.policy, keys)
        except LookupError:
            return []
        count = sum(1 for step in steps if step.kid is None)
        return self.make_spares(info.custody, info.alg, name, row.key_size or 2048, count)

    def make_spares(
        self, custody: str, alg: str, keyset: str, rsa_bits: int, count: int
    ) -> list[Spare]:
        """``count`` new keys for ``alg`` in ``custody`` (all or none), made outside any lock."""
        if custody != DB:
            return list(make_spares(custody, alg, keyset=keyset, rsa_bits=rsa_bits, count=count))
        if count:  # refuse before the slow key generation, and again under the lock
            self.check_keks()
        return [JWK.generate(alg, rsa_bits=rsa_bits) for _ in range(count)]

    @contextmanager
    def locked(
        self,
        name: str,
        now: datetime,
        *,
        spares: Sequence[Spare] = (),
        insert: Mapping[str, Any] | None = None,
    ) -> Iterator[LockedSet]:
        """Lock the set ``name``, re-read it, yield it; commit with a version bump.

        ``spares`` are keys generated beforehand (:meth:`spare_keys`) that new
        keys of this transaction use first. With ``insert`` (the row's column
        values), the set is created first, in the same transaction.

        Once the transaction has ended, backend keys no committed row names
        (unused spares; every key of a rolled-back transaction) are destroyed,
        and after a commit so are the backend keys of keys it expired or
        revoked (:mod:`keywell.store.custody_keys`).

        Raises:
            KeySetNotFoundError: no set has that name (or it is no valid name).
            sqlalchemy.exc.IntegrityError: ``insert`` names a set that exists.
        """
        made = [s for s in spares if isinstance(s, BackendSpare)]
        locked: LockedSet | None = None
        try:
            with self.write() as conn:
                hold_sealing(conn)  # before any row lock: a kek rotate waits, or is waited for
                if insert is not None:
                    conn.execute(t.keysets.insert().values(**insert))
                query = select(t.keysets).where(t.keysets.c.name == known_name(name))
                if self.engine.dialect.name == "postgresql":
                    query = query.with_for_update()
                row = conn.execute(query).one_or_none()
                if row is None:
                    raise KeySetNotFoundError(f"no key set named {name!r}")
                locked = LockedSet(conn, row, self.keks, spares)
                yield locked
                locked.finish(now)
        except BaseException:
            discard(made + (locked.made if locked is not None else []))
            raise
        if locked is None:  # pragma: no cover - the block yielded, or raised above
            return
        discard([*(s for s in locked.spares if isinstance(s, BackendSpare)), *locked.stale])
        if locked.doomed:
            destroy_doomed(self, locked.doomed, now=now)

    def private_jwk(self, conn: Connection, name: str, kid: str) -> JWK:
        """Decrypt the private JWK of ``kid`` (KEKError if the KEK is missing or wrong)."""
        row = conn.execute(
            select(t.keys.c.private_ct, t.keys.c.kek_id)
            .join(t.keysets, t.keysets.c.id == t.keys.c.keyset_id)
            .where(t.keysets.c.name == known_name(name), t.keys.c.kid == known_kid(kid))
        ).one_or_none()
        if row is None or row.private_ct is None or row.kek_id is None:
            raise KeySetNotFoundError(f"key {kid!r} of key set {name!r} has no private half")
        plain = self.keks.open(bytes(row.private_ct), kek_id=row.kek_id, keyset=name, kid=kid)
        return JWK.from_dict(json.loads(plain))

    def signing_material(self, conn: Connection, name: str, kid: str) -> SigningMaterial:
        """What signs for ``kid``: the decrypted private JWK, or the key's custody and reference.

        Raises:
            KeySetNotFoundError: no such key, or its private half is destroyed.
            KEKError: (``db`` custody) the KEK is missing or wrong.
        """
        row = conn.execute(
            select(t.keys.c.custody, t.keys.c.custody_ref, t.keys.c.public_jwk)
            .join(t.keysets, t.keysets.c.id == t.keys.c.keyset_id)
            .where(t.keysets.c.name == known_name(name), t.keys.c.kid == known_kid(kid))
        ).one_or_none()
        if row is None or row.custody is None:
            return SigningMaterial(self.private_jwk(conn, name, kid), DB, None, None)
        if row.custody_ref is None or row.public_jwk is None:
            raise KeySetNotFoundError(f"key {kid!r} of key set {name!r} is destroyed")
        return SigningMaterial(None, row.custody, row.custody_ref, JWK.from_json(row.public_jwk))

    def get_set(self, conn: Connection, name: str) -> tuple[int, KeySetInfo]:
        """The id and info of the set ``name`` (KeySetNotFoundError if none)."""
        query = select(t.keysets).where(t.keysets.c.name == known_name(name))
        row = conn.execute(query).one_or_none()
        if row is None:
            raise KeySetNotFoundError(f"no key set named {name!r}")
        return row.id, keyset_info(row)

    def keys_of(self, conn: Connection, set_id: int) -> list[KeyInfo]:
        """Every key of a set, oldest first."""
        rows = conn.execute(
            select(t.keys).where(t.keys.c.keyset_id == set_id).order_by(t.keys.c.id)
        ).all()
        return [key_info(r) for r in rows]

    def public_jwks_rows(self, conn: Connection, set_id: int) -> list[tuple[KeyInfo, str | None]]:
        """Each key with its stored public JWK JSON."""
        rows = conn.execute(
            select(t.keys).where(t.keys.c.keyset_id == set_id).order_by(t.keys.c.id)
        ).all()
        return [(key_info(r), r.public_jwk) for r in rows]
