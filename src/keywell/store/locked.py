"""One key set locked inside a write transaction: planner steps applied, keys made and retired.

:meth:`keywell.store.repository.Store.locked` yields a :class:`LockedSet`;
:meth:`LockedSet.apply` performs the planner's steps on the rows read under
the lock. A new key is sealed under the store's sealing KEK (``db`` custody;
:mod:`keywell.store.kek_check` proves the ring first, invariant 7) or made in
the set's custody backend (a spare made before the lock, else made here; no
KEK is involved, invariant 8). An expired or revoked backend key keeps its
``custody_ref`` in the committed row and is listed in :attr:`LockedSet.doomed`,
destroyed only after the commit (:mod:`keywell.store.custody_keys`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from keywell.custody.proof import generate_proven
from keywell.custody.uri import DB, open_custody
from keywell.errors import CustodyError
from keywell.jose.jwk import JWK
from keywell.lifecycle import KeyInfo, KeySetInfo, KeyState, Step, Transition
from keywell.lifecycle.names import check_label
from keywell.store import tables as t
from keywell.store.custody_keys import BackendSpare, Doomed
from keywell.store.kek import KEKRing
from keywell.store.kek_check import verify_ring
from keywell.store.rows import key_info, keyset_info, to_us

__all__ = ["LockedSet", "Spare"]

#: A key made before the lock: a private JWK (``db`` custody) or a backend key.
Spare = JWK | BackendSpare


class LockedSet:
    """One key set, locked inside a write transaction; apply steps, then commit."""

    def __init__(
        self, conn: Connection, row: Any, keks: KEKRing, spares: Sequence[Spare] = ()
    ) -> None:
        self.conn = conn
        self.spares = list(spares)  # generated before the lock; used first, else discarded
        self.made: list[BackendSpare] = []  # backend keys generated under the lock
        self.stale: list[BackendSpare] = []  # spares gone or failing their proof: discarded
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
                if fits and not self._still_held(spare):
                    self.stale.append(spare)  # destroyed after the transaction
                    del self.spares[i]
                    return self._take_spare(custody)
            else:
                fits = custody == DB and spare.alg == alg
            if fits:
                return self.spares.pop(i)
        return None

    def _still_held(self, spare: BackendSpare) -> bool:
        """Whether a spare made before the lock is still held by its backend.

        Reconciliation destroys unnamed keys under this same lock, so a spare
        found here cannot be taken for an orphan before this transaction commits.
        """
        backend = open_custody(spare.uri)
        if backend is None:  # pragma: no cover - a BackendSpare has a custody
            return False
        try:
            return backend.holds(spare.key.ref, self.info.name)
        except CustodyError:  # not known to be held: a key is made here instead
            return False

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
                bits = self.key_size or 2048
                spare = BackendSpare(
                    custody, generate_proven(backend, alg, keyset=name, rsa_bits=bits)
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
