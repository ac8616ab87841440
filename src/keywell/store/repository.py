"""Transactions over the store: reads, and writes that lock one key set.

Every change to a key set runs in :meth:`Store.locked`: one transaction that
takes the set's lock first (``SELECT ... FOR UPDATE`` on PostgreSQL; on
SQLite the database write lock, taken by ``BEGIN IMMEDIATE``), then re-reads
the set and its keys, so the caller plans on the state nobody else can change
until it commits. Each committed change bumps the set's ``version``. A process
dying mid-transaction leaves the previous committed state (DESIGN.md
invariant 6). Key material is sealed only after :mod:`keywell.store.kek_check`
proved, in that same transaction, that this process's KEKs open what the store
holds (invariant 7).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from keywell.custody.uri import DB, open_custody
from keywell.errors import KeySetNotFoundError
from keywell.jose.jwk import JWK
from keywell.lifecycle import KeyInfo, KeySetInfo, KeyState, RotationPolicy, Step, Transition
from keywell.lifecycle.names import check_label, known_kid, known_name
from keywell.store import tables as t
from keywell.store.custody_keys import BackendSpare, Doomed, destroy_doomed, discard, make_spares
from keywell.store.engine import WRITE_OPTION
from keywell.store.kek import KEKRing
from keywell.store.kek_check import Verdict, hold_sealing, verify_ring
from keywell.store.rows import key_info, keyset_info, to_us

__all__ = ["LockedSet", "SigningMaterial", "Spare", "Store"]

#: A key made before the lock: a private JWK (``db`` custody) or a backend key.
Spare = JWK | BackendSpare


@dataclass(frozen=True, slots=True)
class SigningMaterial:
    """What signs for a key: its private JWK (``db``), or its custody URI, ref and public JWK."""

    private: JWK | None
    custody: str
    ref: str | None
    public: JWK | None


class LockedSet:
    """One key set, locked inside a write transaction; apply steps, then commit."""

    def __init__(
        self, conn: Connection, row: Any, keks: KEKRing, spares: Sequence[Spare] = ()
    ) -> None:
        self.conn = conn
        self.spares = list(spares)  # generated before the lock; used first, else discarded
        self.made: list[BackendSpare] = []  # backend keys generated under the lock
        self.doomed: list[Doomed] = []  # expired/revoked backend keys, destroyed after commit
        self.set_id: int = row.id
        self.key_size: int | None = row.key_size
        self.info: KeySetInfo = keyset_info(row)
        self._keks = keks
        self._sealing: str | None = None
        self._changed = False
        self.keys: list[KeyInfo] = []
        self._max_ttl: dict[str, int] = {}
        self.reload_keys()

    def reload_keys(self) -> None:
        """Re-read the set's keys inside this transaction."""
        rows = self.conn.execute(
            select(t.keys).where(t.keys.c.keyset_id == self.set_id).order_by(t.keys.c.id)
        ).all()
        self.keys = [key_info(r) for r in rows]
        self._max_ttl = {r.kid: r.max_ttl_us for r in rows}
        self._refs = {r.kid: (r.custody, r.custody_ref) for r in rows if r.custody_ref}

    def audit(
        self,
        action: str,
        *,
        actor: str,
        at: datetime,
        kid: str | None = None,
        old: str | None = None,
        new: str | None = None,
        reason: str | None = None,
        changed: bool = True,
    ) -> None:
        """Record an audit event for this set; ``changed`` bumps the set's version on commit."""
        self.conn.execute(
            insert(t.audit).values(
                at=at,
                actor=check_label(actor, "actor"),  # InvalidInputError: the transaction rolls back
                keyset=self.info.name,
                kid=kid,
                old_state=old,
                new_state=new,
                action=action,
                reason=reason,
            )
        )
        self._changed = self._changed or changed

    def _take_spare(self, custody: str) -> Spare | None:
        alg = self.info.alg
        for i, spare in enumerate(self.spares):
            if isinstance(spare, BackendSpare):
                fits = spare.uri == custody and spare.key.public.alg == alg
            else:
                fits = custody == DB and spare.alg == alg
            if fits:
                return self.spares.pop(i)
        return None

    def _material(self, now: datetime) -> tuple[str, dict[str, Any]]:
        """A new key's kid and its custody columns: sealed here, or made in the backend."""
        alg, custody, name = self.info.alg, self.info.custody, self.info.name
        spare = self._take_spare(custody)
        if custody != DB:  # no KEK is involved: nothing is sealed (invariant 8)
            if not isinstance(spare, BackendSpare):
                backend = open_custody(custody)
                if backend is None:  # pragma: no cover - custody != DB
                    raise AssertionError(custody)
                backend.check_algorithm(alg)
                spare = BackendSpare(
                    custody, backend.generate(alg, keyset=name, rsa_bits=self.key_size or 2048)
                )
                self.made.append(spare)
            public = spare.key.public
            return public.kid or "", {
                "public_jwk": public.to_json(),
                "custody": custody,
                "custody_ref": spare.key.ref,
            }
        if self._sealing is None:  # once per transaction, before the first seal
            self._sealing = verify_ring(self.conn, self._keks, now=now, record=True).sealing
        jwk = spare if isinstance(spare, JWK) else JWK.generate(alg, rsa_bits=self.key_size or 2048)
        kid = jwk.kid or ""
        kek_id, blob = self._keks.seal(
            jwk.to_json(private=True).encode(), keyset=name, kid=kid, kek_id=self._sealing
        )
        return kid, {
            "public_jwk": None if jwk.is_symmetric else jwk.to_json(),
            "private_ct": blob,
            "kek_id": kek_id,
        }

    def _create_key(self, state: KeyState, now: datetime) -> str:
        kid, material = self._material(now)
        self.conn.execute(
            insert(t.keys).values(
                keyset_id=self.set_id,
                kid=kid,
                alg=self.info.alg,
                state=state.value,
                **material,
                max_ttl_us=to_us(self.info.policy.max_token_ttl),
                created_at=now,
                published_at=now,
                activated_at=now if state is KeyState.ACTIVE else None,
            )
        )
        return kid

    def apply(
        self, steps: Sequence[Step], *, now: datetime, actor: str, action: str
    ) -> list[Transition]:
        """Apply planner steps in order, audit each, and return what happened."""
        done: list[Transition] = []
        policy = self.info.policy
        for step in steps:
            if step.kid is None:
                kid = self._create_key(step.new_state, now)
            else:
                kid = step.kid
                values: dict[str, Any] = {"state": step.new_state.value}
                if step.new_state is KeyState.ACTIVE:
                    values["activated_at"] = now
                    # the cap is the longest TTL the key may sign: the policy's from now on
                    cap = max(self._max_ttl.get(kid, 0), to_us(policy.max_token_ttl))
                    values["max_ttl_us"] = self._max_ttl[kid] = cap
                elif step.new_state is KeyState.RETIRED:
                    ttl_us = max(self._max_ttl.get(kid, 0), to_us(policy.max_token_ttl))
                    values["retired_at"] = now
                    values["expires_at"] = now + timedelta(microseconds=ttl_us) + policy.clock_skew
                elif step.new_state in (KeyState.EXPIRED, KeyState.REVOKED):
                    values["private_ct"] = None  # destroyed, not flagged
                    values["kek_id"] = None
                    if kid in self._refs:  # custody_ref stays: destroyed after commit
                        uri, ref = self._refs[kid]
                        self.doomed.append(Doomed(self.info.name, kid, uri, ref))
                    if step.new_state is KeyState.REVOKED:
                        values["revoked_at"] = now
                        values["revoke_reason"] = step.reason
                    elif step.old_state is KeyState.RETIRED:
                        values["expires_at"] = now
                self.conn.execute(
                    update(t.keys)
                    .where(t.keys.c.keyset_id == self.set_id, t.keys.c.kid == kid)
                    .values(**values)
                )
            old = step.old_state.value if step.old_state else None
            self.audit(
                action,
                actor=actor,
                at=now,
                kid=kid,
                old=old,
                new=step.new_state.value,
                reason=step.reason,
            )
            done.append(
                Transition(self.info.name, kid, step.old_state, step.new_state, now, step.reason)
            )
        if done:
            self.reload_keys()
        return done

    def bump_ttl_cap(self, kid: str, ttl_us: int) -> None:
        """Raise the recorded longest token TTL of ``kid`` (never lowers it)."""
        if ttl_us > self._max_ttl.get(kid, 0):
            self.conn.execute(
                update(t.keys)
                .where(t.keys.c.keyset_id == self.set_id, t.keys.c.kid == kid)
                .values(max_ttl_us=ttl_us)
            )
            self._max_ttl[kid] = ttl_us

    def finish(self, now: datetime) -> None:
        """Bump the set's version if anything changed (called before commit)."""
        if self._changed:
            self.conn.execute(
                update(t.keysets)
                .where(t.keysets.c.id == self.set_id)
                .values(version=t.keysets.c.version + 1, updated_at=now)
            )
            row = self.conn.execute(select(t.keysets).where(t.keysets.c.id == self.set_id)).one()
            self.info = keyset_info(row)


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
        discard(s for s in locked.spares if isinstance(s, BackendSpare))
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
