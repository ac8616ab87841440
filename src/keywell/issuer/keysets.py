"""Key sets as the Issuer manages them: create, read, change policy, read keys and audit.

:class:`KeySetMethods` is a mixin of :class:`keywell.issuer.Issuer`; it uses
the issuer's store, clock and signer cache. Creating a set writes the set, an
active key and a published pending successor in one transaction; a policy
change applies at once whatever transitions the new policy makes due
(DESIGN.md, "Key lifecycle").
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import desc, insert, select, update
from sqlalchemy.exc import IntegrityError

from keywell.errors import KeySetExistsError
from keywell.issuer.signing import SignerCache
from keywell.jose.jwk import JWK
from keywell.lifecycle import AuditEvent, KeyInfo, KeySetInfo, KeyState, RotationPolicy, Step, plan
from keywell.lifecycle.names import check_issuer, check_keyset_name
from keywell.store import tables as t
from keywell.store.repository import LockedSet, Store
from keywell.store.rows import audit_event, keyset_info, policy_values, to_us

__all__ = ["SIGNING_ALGORITHMS", "KeySetMethods"]

SIGNING_ALGORITHMS = frozenset({"RS256", "PS256", "ES256", "ES384", "ES512", "EdDSA", "HS256"})
_FIRST_KEYS = (
    Step(kid=None, old_state=None, new_state=KeyState.ACTIVE, reason="key set created"),
    Step(
        kid=None, old_state=None, new_state=KeyState.PENDING, reason="successor of the active key"
    ),
)


def _check_new_set(name: str, issuer: str, alg: str, rsa_bits: int) -> None:
    check_keyset_name(name)  # the rules live in keywell.lifecycle.names
    check_issuer(issuer)
    if alg not in SIGNING_ALGORITHMS:
        raise ValueError(f"alg must be one of {sorted(SIGNING_ALGORITHMS)}")
    if rsa_bits < 2048:
        raise ValueError("rsa_bits must be at least 2048")


class KeySetMethods:
    """The key-set half of :class:`keywell.issuer.Issuer` (a mixin; not used alone)."""

    _store: Store
    _clock: Callable[[], datetime]
    _signers: SignerCache

    def create_keyset(
        self,
        name: str,
        *,
        issuer: str,
        alg: str = "ES256",
        policy: RotationPolicy | None = None,
        actor: str = "system",
        rsa_bits: int = 2048,
    ) -> KeySetInfo:
        """Create a set with an active key and a published pending successor.

        Raises:
            KeySetExistsError: the name is taken.
            ValueError: bad name, issuer or algorithm.
        """
        _check_new_set(name, issuer, alg, rsa_bits)
        policy = policy or RotationPolicy()
        spares = [JWK.generate(alg, rsa_bits=rsa_bits) for _ in _FIRST_KEYS]  # before the lock
        now = self._clock()
        try:
            with self._store.write() as conn:
                conn.execute(
                    insert(t.keysets).values(
                        name=name,
                        issuer=issuer,
                        alg=alg,
                        key_size=rsa_bits if alg in ("RS256", "PS256") else None,
                        version=0,
                        created_at=now,
                        updated_at=now,
                        **policy_values(policy),
                    )
                )
                row = conn.execute(select(t.keysets).where(t.keysets.c.name == name)).one()
                locked = LockedSet(conn, row, self._store.keks, spares)
                locked.audit(
                    "create_keyset", actor=actor, at=now, reason=f"alg {alg}, issuer {issuer}"
                )
                locked.apply(_FIRST_KEYS, now=now, actor=actor, action="create_keyset")
                locked.finish(now)
        except IntegrityError as exc:
            raise KeySetExistsError(f"a key set named {name!r} already exists") from exc
        return locked.info

    def get_keyset(self, name: str) -> KeySetInfo:
        """The set called ``name`` (KeySetNotFoundError if none)."""
        with self._store.read() as conn:
            return self._store.get_set(conn, name)[1]

    def list_keysets(self) -> list[KeySetInfo]:
        """Every key set, by name."""
        with self._store.read() as conn:
            rows = conn.execute(select(t.keysets).order_by(t.keysets.c.name)).all()
        return [keyset_info(r) for r in rows]

    def update_policy(
        self, name: str, policy: RotationPolicy, *, actor: str = "system"
    ) -> KeySetInfo:
        """Replace a set's policy; transitions the new policy makes due happen at once."""
        if not isinstance(policy, RotationPolicy):
            raise TypeError("policy must be a RotationPolicy")
        probe = self._clock()
        spares = self._store.spare_keys(name, lambda _, keys: plan(policy, keys, probe))
        with self._store.locked(name, probe, spares=spares) as locked:
            now = self._clock()
            locked.conn.execute(
                update(t.keysets)
                .where(t.keysets.c.id == locked.set_id)
                .values(**policy_values(policy))
            )
            locked.info = KeySetInfo(
                locked.info.name,
                locked.info.issuer,
                locked.info.alg,
                policy,
                locked.info.version,
                locked.info.created_at,
            )
            for key in locked.keys:  # a pending key signs under this policy once promoted
                if key.state in (KeyState.ACTIVE, KeyState.PENDING):
                    locked.bump_ttl_cap(key.kid, to_us(policy.max_token_ttl))
            locked.audit("update_policy", actor=actor, at=now, reason=policy.describe())
            locked.apply(plan(policy, locked.keys, now), now=now, actor=actor, action="tick")
        self._signers.invalidate(name)
        return locked.info

    def keys(self, name: str) -> list[KeyInfo]:
        """Every key of the set, oldest first."""
        with self._store.read() as conn:
            set_id, _ = self._store.get_set(conn, name)
            return self._store.keys_of(conn, set_id)

    def history(self, name: str | None = None, *, limit: int = 100) -> list[AuditEvent]:
        """Audit events, newest first (of one set, or of everything)."""
        query = select(t.audit).order_by(desc(t.audit.c.id)).limit(limit)
        if name is not None:
            query = query.where(t.audit.c.keyset == name)
        with self._store.read() as conn:
            return [audit_event(r) for r in conn.execute(query).all()]

    def versions(self) -> dict[str, int]:
        """Every set's version counter (bumped on every change of the set)."""
        with self._store.read() as conn:
            rows = conn.execute(select(t.keysets.c.name, t.keysets.c.version)).all()
        return {r.name: r.version for r in rows}
