"""The key-set part of the Issuer: create, read, change policy, read keys and audit.

Creating a set writes the set, an active key and a published pending
successor in one transaction (in a custody set the two keys are made in the
backend first, and destroyed if the transaction fails); a policy change applies at once whatever
transitions the new policy makes due (DESIGN.md, "Key lifecycle"). The rows
are read and written by :mod:`keywell.store.catalog`; the rules a new set
must meet live in :mod:`keywell.lifecycle.names` and :mod:`keywell.lifecycle.rules`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from keywell.custody.base import Custody
from keywell.custody.uri import DB, open_custody, parse_custody
from keywell.errors import InvalidInputError
from keywell.issuer.signing import SignerCache
from keywell.jose.jwk import JWK
from keywell.lifecycle import AuditEvent, KeyInfo, KeySetInfo, KeyState, RotationPolicy, Step, plan
from keywell.lifecycle.names import check_issuer, check_keyset_name
from keywell.lifecycle.rules import check_signing_alg, key_size
from keywell.store import catalog
from keywell.store.repository import Spare, Store
from keywell.store.rows import to_us

__all__ = ["KeySets"]

_FIRST_KEYS = (
    Step(kid=None, old_state=None, new_state=KeyState.ACTIVE, reason="key set created"),
    Step(
        kid=None, old_state=None, new_state=KeyState.PENDING, reason="successor of the active key"
    ),
)


def _supports(backend: Custody | None, alg: str) -> None:
    """Refuse an algorithm the custody cannot generate keys for (InvalidInputError on ``alg``)."""
    if backend is not None and alg not in backend.algorithms:
        supported = ", ".join(sorted(backend.algorithms))
        raise InvalidInputError(
            f"{backend.scheme} custody cannot hold {alg} keys (it supports {supported})",
            field="alg",
        )


class KeySets:
    """Key sets over one store: the methods :class:`keywell.issuer.Issuer` exposes for them."""

    def __init__(self, store: Store, clock: Callable[[], datetime], signers: SignerCache) -> None:
        self._store = store
        self._clock = clock
        self._signers = signers

    def create(
        self,
        name: str,
        *,
        issuer: str,
        alg: str,
        policy: RotationPolicy | None,
        actor: str,
        rsa_bits: int,
        custody: str = DB,
    ) -> KeySetInfo:
        """See :meth:`keywell.issuer.Issuer.create_keyset`."""
        check_keyset_name(name)
        check_issuer(issuer)
        check_signing_alg(alg, rsa_bits)
        uri = parse_custody(custody).uri
        _supports(open_custody(uri), alg)
        policy = policy or RotationPolicy()
        if uri == DB:  # the KEK check is the locked transaction's (it records the first KEK)
            spares: list[Spare] = [JWK.generate(alg, rsa_bits=rsa_bits) for _ in _FIRST_KEYS]
        else:  # made before the lock; CustodyError (unsupported alg, backend down): no set
            spares = self._store.make_spares(uri, alg, name, rsa_bits, len(_FIRST_KEYS))
        now = self._clock()
        with catalog.create_set(
            self._store,
            name,
            issuer=issuer,
            alg=alg,
            key_size=key_size(alg, rsa_bits),
            policy=policy,
            now=now,
            spares=spares,
            custody=uri,
        ) as locked:
            reason = f"alg {alg}, issuer {issuer}" + ("" if uri == DB else f", custody {uri}")
            locked.audit("create_keyset", actor=actor, at=now, reason=reason)
            locked.apply(_FIRST_KEYS, now=now, actor=actor, action="create_keyset")
        return locked.info

    def get(self, name: str) -> KeySetInfo:
        """The set called ``name`` (KeySetNotFoundError if none)."""
        with self._store.read() as conn:
            return self._store.get_set(conn, name)[1]

    def all(self) -> list[KeySetInfo]:
        """Every key set, by name."""
        return catalog.list_sets(self._store)

    def update_policy(self, name: str, policy: RotationPolicy, *, actor: str) -> KeySetInfo:
        """See :meth:`keywell.issuer.Issuer.update_policy`."""
        if not isinstance(policy, RotationPolicy):
            raise TypeError("policy must be a RotationPolicy")
        probe = self._clock()
        spares = self._store.spare_keys(name, lambda _, keys: plan(policy, keys, probe))
        with self._store.locked(name, probe, spares=spares) as locked:
            now = self._clock()
            catalog.set_policy(locked, policy)
            for key in locked.keys:  # a pending key signs under this policy once promoted
                if key.state in (KeyState.ACTIVE, KeyState.PENDING):
                    locked.bump_ttl_cap(key.kid, to_us(policy.max_token_ttl))
            locked.audit("update_policy", actor=actor, at=now, reason=policy.describe())
            locked.apply(plan(policy, locked.keys, now), now=now, actor=actor, action="tick")
        self._signers.invalidate(name)
        return locked.info

    def update_issuer(self, name: str, issuer: str, *, actor: str, reason: str) -> KeySetInfo:
        """See :meth:`keywell.issuer.Issuer.update_issuer`."""
        check_issuer(issuer)
        with self._store.locked(name, self._clock()) as locked:
            catalog.set_issuer(locked, issuer)
            locked.audit("update_issuer", actor=actor, at=self._clock(), reason=reason)
        self._signers.invalidate(name)
        return locked.info

    def set_custody(self, name: str, custody: str, *, actor: str) -> KeySetInfo:
        """See :meth:`keywell.issuer.Issuer.set_custody`."""
        uri = parse_custody(custody).uri
        backend = open_custody(uri)  # CustodyError: cannot open it (credential, extra)
        _supports(backend, self.get(name).alg)
        if backend is not None:
            backend.check()
        with self._store.locked(name, self._clock()) as locked:
            old = locked.info.custody
            if old != uri:
                catalog.set_custody(locked, uri)
                locked.audit("set_custody", actor=actor, at=self._clock(), reason=f"{old} -> {uri}")
        return locked.info

    def keys(self, name: str) -> list[KeyInfo]:
        """Every key of the set, oldest first."""
        with self._store.read() as conn:
            set_id, _ = self._store.get_set(conn, name)
            return self._store.keys_of(conn, set_id)

    def history(
        self,
        name: str | None,
        *,
        limit: int,
        actor: str | None = None,
        action: str | None = None,
        before: int | None = None,
    ) -> list[AuditEvent]:
        """Audit events, newest first (of one set, or of everything), optionally filtered."""
        return catalog.history(
            self._store, name, limit=limit, actor=actor, action=action, before=before
        )

    def versions(self) -> dict[str, int]:
        """Every set's version counter (bumped on every change of the set)."""
        return catalog.versions(self._store)
