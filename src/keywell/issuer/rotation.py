"""The transitions part of the Issuer: tick, rotate, revoke, and loading the signer.

Every change runs in one transaction holding the key-set lock
(:meth:`keywell.store.repository.Store.locked`), re-reads the state, applies
the pure planner (:mod:`keywell.lifecycle`) and bumps the set's version, so
any number of processes sharing one database perform each transition exactly
once (DESIGN.md invariant 6).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from keywell.custody.proof import proven_signer
from keywell.custody.uri import open_custody
from keywell.errors import CustodyError, KeyNotFoundError, KeySetError, KeySetNotFoundError
from keywell.issuer.signing import SignerCache, SignerEntry
from keywell.lifecycle import (
    KeyInfo,
    KeyState,
    RotationPolicy,
    RotationResult,
    Step,
    Transition,
    emergency_warning,
    next_due,
    plan,
    plan_revoke,
    plan_rotate,
    rotation_due_at,
)
from keywell.lifecycle.names import check_reason
from keywell.store import catalog, custody_keys
from keywell.store.repository import LockedSet, Store

__all__ = ["Transitions"]

_log = logging.getLogger("keywell.custody")
StepsOf = Callable[[RotationPolicy, list[KeyInfo], datetime], list[Step]]


class Transitions:
    """Plans and applies the transitions of the sets in one store, and loads signers."""

    def __init__(
        self,
        store: Store,
        clock: Callable[[], datetime],
        signers: SignerCache,
        *,
        cache_ttl: float,
    ) -> None:
        self._store = store
        self._clock = clock
        self._signers = signers
        self._cache_ttl = cache_ttl

    def _apply_locked(
        self,
        name: str,
        now: datetime | None,
        steps_of: StepsOf,
        *,
        actor: str,
        action: str,
        on_empty: Callable[[LockedSet, datetime], None] | None = None,
    ) -> tuple[list[Transition], LockedSet]:
        """Plan and apply ``steps_of`` under the set's lock, keeping the lock short.

        The fresh keys the steps need are generated first, from an unlocked
        snapshot; under the lock the steps are planned again on the state read
        there (spares not needed are discarded), and the transition time is
        stamped once the lock is held, so it lies as close to the commit as it can.
        """
        probe = now or self._clock()
        spares = self._store.spare_keys(name, lambda policy, keys: steps_of(policy, keys, probe))
        with self._store.locked(name, probe, spares=spares) as locked:
            moment = now or self._clock()
            steps = steps_of(locked.info.policy, locked.keys, moment)
            if not steps and on_empty is not None:
                on_empty(locked, moment)
            done = locked.apply(steps, now=moment, actor=actor, action=action)
        if done:
            self._signers.invalidate(name)
        return done, locked

    def tick(self, now: datetime | None) -> list[Transition]:
        """See :meth:`keywell.issuer.Issuer.tick`.

        A set whose custody backend fails keeps its state (the error is raised
        once every other due set had its turn) and is retried on the next tick;
        backend destructions still pending are retried first.
        """
        at = now or self._clock()
        custody_keys.retry_destroys(self._store, now=at)
        due = catalog.due_sets(self._store, next_due, at)
        done: list[Transition] = []
        failed: CustodyError | None = None
        for name in due:
            try:
                done += self.tick_set(name, now)
            except KeySetNotFoundError:
                continue  # deleted meanwhile
            except CustodyError as exc:
                failed = failed or exc
        if failed is not None:
            raise failed
        return done

    def tick_set(self, name: str, now: datetime | None) -> list[Transition]:
        """Perform the due transitions of the set ``name``."""
        return self._apply_locked(name, now, plan, actor="system", action="tick")[0]

    def rotate(self, name: str, *, emergency: bool, actor: str) -> RotationResult:
        """See :meth:`keywell.issuer.Issuer.rotate`."""
        deferred: list[datetime | None] = [None]

        def steps_of(policy: RotationPolicy, keys: list[KeyInfo], at: datetime) -> list[Step]:
            steps, deferred[0] = plan_rotate(policy, keys, at, emergency=emergency)
            return steps

        def on_empty(locked: LockedSet, at: datetime) -> None:
            locked.audit(
                "rotate_deferred",
                changed=False,
                actor=actor,
                at=at,
                reason=f"pending key not published long enough until {deferred[0]}",
            )

        action = "emergency_rotate" if emergency else "rotate"
        done, locked = self._apply_locked(
            name, None, steps_of, actor=actor, action=action, on_empty=on_empty
        )
        active = next(k for k in locked.keys if k.state is KeyState.ACTIVE)
        warning = None
        if emergency:
            at = done[-1].at if done else self._clock()
            warning = emergency_warning(locked.info.policy, locked.keys, at)
        return RotationResult(
            performed=bool(done),
            active_kid=active.kid,
            warning=warning,
            next_possible_at=deferred[0],
            transitions=done,
        )

    def revoke(self, name: str, kid: str, reason: str, *, actor: str) -> list[Transition]:
        """See :meth:`keywell.issuer.Issuer.revoke`."""
        check_reason(reason)  # InvalidInputError (a ValueError); rules in lifecycle.names

        def steps_of(policy: RotationPolicy, keys: list[KeyInfo], at: datetime) -> list[Step]:
            return plan_revoke(keys, kid, reason)

        def without_successor(
            policy: RotationPolicy, keys: list[KeyInfo], at: datetime
        ) -> list[Step]:
            steps = plan_revoke(keys, kid, reason)
            return [s for s in steps if s.kid is not None or s.new_state is not KeyState.PENDING]

        self._signers.invalidate(name)
        try:
            try:
                return self._apply_locked(name, None, steps_of, actor=actor, action="revoke")[0]
            except CustodyError as exc:
                # A revocation never waits for the custody backend: revoke (and hand over)
                # without the new pending key, which the first tick after recovery makes.
                # A set that would need a new *active* key still fails (invariant 1).
                _log.warning("revoking without a new pending key (made on a later tick): %s", exc)
                return self._apply_locked(
                    name, None, without_successor, actor=actor, action="revoke"
                )[0]
        except LookupError:
            raise KeyNotFoundError(f"key set {name!r} has no key {kid!r}") from None

    def load_signer(self, name: str, now: datetime) -> SignerEntry:
        """The set's active key and claim defaults, performing a due transition first."""
        store = self._store
        for _ in range(3):
            with store.read() as conn:
                set_id, info = store.get_set(conn, name)
                keys = store.keys_of(conn, set_id)
                due = next_due(info.policy, keys)
                if due is None or due > now:
                    active = next(k for k in keys if k.state is KeyState.ACTIVE)
                    material = store.signing_material(conn, name, active.kid)
                    break
            self.tick_set(name, None)  # a transition is due: perform it before signing
        else:  # pragma: no cover - three ticks in a row found more due
            raise KeySetError(f"key set {name!r} keeps changing; try again")
        until = rotation_due_at(info.policy, keys)
        ttl = min(self._cache_ttl, info.policy.clock_skew.total_seconds())
        sign_fn = None
        key = material.private
        if key is None:  # the key lives in a custody backend: it signs there
            backend, key = open_custody(material.custody), material.public
            if backend is None or key is None or material.ref is None:  # pragma: no cover
                raise KeySetError(f"key {active.kid!r} of key set {name!r} has no signer")
            sign_fn = proven_signer(backend, material.ref, key, info.alg)
        return SignerEntry(
            key=key,
            sign_fn=sign_fn,
            issuer=info.issuer,
            max_ttl=info.policy.max_token_ttl.total_seconds(),
            mono_expiry=time.monotonic() + ttl,
            valid_until=until.timestamp() if until else float("inf"),
        )
