"""The rotation planner: which transitions are due, given a set's keys and ``now``.

Pure functions, no I/O and no clock of their own (the manner of cryptography's
``decrypt_at_time``). The store runs them inside the transaction that holds the
key-set lock and applies the :class:`Step` list they return, so the decision
is always taken on the state the transaction itself re-read.

The schedule (DESIGN.md invariants 1, 2 and 5):

* a set always has one active key and, normally, one pending successor,
  created when its predecessor starts signing;
* the planned rotation is due at ``max(active.activated_at + rotation_period,
  pending.published_at + prepublish)``, so a key never signs before it has
  been published for ``prepublish``;
* a retired key is expired at its ``expires_at`` (retirement +
  ``max_token_ttl`` + ``clock_skew``);
* with no active key (only after a revocation), the oldest pending key takes
  over at once, or a fresh key if none is left.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from keywell.lifecycle.durations import format_duration
from keywell.lifecycle.policy import RotationPolicy
from keywell.lifecycle.states import KeyInfo, KeyState

__all__ = [
    "Step",
    "emergency_warning",
    "next_due",
    "plan",
    "plan_revoke",
    "plan_rotate",
    "rotation_due_at",
]


@dataclass(frozen=True, kw_only=True)
class Step:
    """One transition to apply; ``kid is None`` asks for a freshly generated key."""

    kid: str | None
    old_state: KeyState | None
    new_state: KeyState
    reason: str


def _by_state(keys: Sequence[KeyInfo], state: KeyState) -> list[KeyInfo]:
    found = [k for k in keys if k.state is state]
    found.sort(key=lambda k: (k.published_at or k.created_at, k.kid))
    return found


def rotation_due_at(policy: RotationPolicy, keys: Sequence[KeyInfo]) -> datetime | None:
    """When the planned rotation is due, or ``None`` without an active and a pending key."""
    active = _by_state(keys, KeyState.ACTIVE)
    pending = _by_state(keys, KeyState.PENDING)
    if not active or not pending or active[0].activated_at is None:
        return None
    published = pending[0].published_at or pending[0].created_at
    return max(
        active[0].activated_at + policy.rotation_period,
        published + policy.effective_prepublish,
    )


def next_due(policy: RotationPolicy, keys: Sequence[KeyInfo]) -> datetime | None:
    """The earliest instant at which :func:`plan` will return a step; ``None`` if never.

    Anything already due (a missing active or pending key) gives the earliest
    representable instant, i.e. "now".
    """
    active = _by_state(keys, KeyState.ACTIVE)
    pending = _by_state(keys, KeyState.PENDING)
    if not active or not pending:
        return datetime.min.replace(tzinfo=UTC)
    times = [k.expires_at for k in _by_state(keys, KeyState.RETIRED) if k.expires_at]
    due = rotation_due_at(policy, keys)
    if due is not None:
        times.append(due)
    return min(times) if times else None


def _successor(pending: list[KeyInfo], taken: int, reason: str) -> list[Step]:
    """A new pending key when promotion used up the last one."""
    if len(pending) > taken:
        return []
    return [Step(kid=None, old_state=None, new_state=KeyState.PENDING, reason=reason)]


def _take_over(pending: list[KeyInfo], reason: str) -> list[Step]:
    """Give a set without an active key a signer: the oldest pending key, else a fresh one."""
    if pending:
        steps = [
            Step(
                kid=pending[0].kid,
                old_state=KeyState.PENDING,
                new_state=KeyState.ACTIVE,
                reason=reason,
            )
        ]
    else:
        steps = [Step(kid=None, old_state=None, new_state=KeyState.ACTIVE, reason=reason)]
    return steps + _successor(pending, 1, "successor of the new active key")


def plan(policy: RotationPolicy, keys: Sequence[KeyInfo], now: datetime) -> list[Step]:
    """The transitions due at ``now``, in the order they must be applied.

    One planned rotation at most per call: after it the new active key's
    period starts at ``now``, so a planner woken late never rotates twice.
    """
    steps = [
        Step(
            kid=k.kid,
            old_state=KeyState.RETIRED,
            new_state=KeyState.EXPIRED,
            reason="publication window ended (max_token_ttl + clock_skew after retirement)",
        )
        for k in _by_state(keys, KeyState.RETIRED)
        if k.expires_at is not None and now >= k.expires_at
    ]
    active = _by_state(keys, KeyState.ACTIVE)
    pending = _by_state(keys, KeyState.PENDING)
    if not active:
        return steps + _take_over(pending, "no active key: the pending key takes over")
    if not pending:
        return steps + _successor(pending, 0, "successor of the active key")
    due = rotation_due_at(policy, keys)
    if due is not None and now >= due:
        steps += _promote(active[0], pending, "planned rotation")
    return steps


def _promote(active: KeyInfo, pending: list[KeyInfo], reason: str) -> list[Step]:
    return [
        Step(kid=active.kid, old_state=KeyState.ACTIVE, new_state=KeyState.RETIRED, reason=reason),
        Step(
            kid=pending[0].kid, old_state=KeyState.PENDING, new_state=KeyState.ACTIVE, reason=reason
        ),
        *_successor(pending, 1, "successor of the new active key"),
    ]


def plan_rotate(
    policy: RotationPolicy, keys: Sequence[KeyInfo], now: datetime, *, emergency: bool
) -> tuple[list[Step], datetime | None]:
    """A requested rotation: the steps, and when a refused planned rotation becomes possible.

    Planned: the pending key is promoted if it has been published for
    ``prepublish``; otherwise no step and the time it will have been.
    Emergency: the active key retires at once and the set hands over exactly
    as when the active key is revoked (:func:`plan_revoke`, one code path,
    :func:`_hand_over`): the already-published pending key signs, a new
    pending key is created (DESIGN.md invariant 5).
    """
    active = _by_state(keys, KeyState.ACTIVE)
    pending = _by_state(keys, KeyState.PENDING)
    if emergency:
        steps = _hand_over(
            active,
            KeyState.RETIRED,
            pending,
            "emergency rotation",
            "emergency rotation: the pending key takes over",
        )
        return steps, None
    if not active:
        return _take_over(pending, "no active key: the pending key takes over"), None
    if not pending:
        return _successor(pending, 0, "successor of the active key"), None
    ready = (pending[0].published_at or pending[0].created_at) + policy.effective_prepublish
    if now < ready:
        return [], ready
    return _promote(active[0], pending, "requested rotation"), None


def _hand_over(
    outgoing: Sequence[KeyInfo],
    new_state: KeyState,
    pending: list[KeyInfo],
    reason: str,
    takeover: str,
) -> list[Step]:
    """The active key(s) leave (retired or revoked); the oldest pending key takes over.

    The one path of an emergency rotation and of revoking the active key:
    the successor is a key every verifier refreshing within ``jwks_max_age``
    already holds, and a new pending key is created behind it.
    """
    steps = [
        Step(kid=k.kid, old_state=k.state, new_state=new_state, reason=reason) for k in outgoing
    ]
    waiting = [k for k in pending if all(k.kid != o.kid for o in outgoing)]
    return steps + _take_over(waiting, takeover)


def emergency_warning(policy: RotationPolicy, keys: Sequence[KeyInfo], now: datetime) -> str:
    """What an emergency rotation that left ``keys`` (at ``now``) means for verifiers.

    The new signer was published before it signed; verifiers may still lack it
    only if it was published less than ``jwks_max_age`` ago (or just created,
    when no pending key was left).
    """
    active = _by_state(keys, KeyState.ACTIVE)[0]
    since = active.published_at or active.created_at
    text = f"emergency rotation: the pending key {active.kid} signs at once"
    if now - since >= policy.jwks_max_age:
        return f"{text}; it has been published since {since:%Y-%m-%dT%H:%M:%SZ}"
    return (
        f"{text}; it was published only {format_duration(round((now - since).total_seconds()))} "
        f"ago, so verifiers holding a JWKS cached up to {format_duration(policy.jwks_max_age)} "
        "earlier may reject its tokens until they refresh"
    )


def plan_revoke(keys: Sequence[KeyInfo], kid: str, reason: str) -> list[Step]:
    """Revoke ``kid``; an active key hands over to the pending key (invariant 5).

    Raises:
        LookupError: no key has that kid.
    """
    target = next((k for k in keys if k.kid == kid), None)
    if target is None:
        raise LookupError(kid)
    if target.state is KeyState.REVOKED:
        return []
    pending = [k for k in _by_state(keys, KeyState.PENDING) if k.kid != kid]
    if target.state is KeyState.ACTIVE:
        return _hand_over(
            [target],
            KeyState.REVOKED,
            pending,
            reason,
            "active key revoked: the pending key takes over",
        )
    steps = [Step(kid=kid, old_state=target.state, new_state=KeyState.REVOKED, reason=reason)]
    if target.state is KeyState.PENDING and not pending:
        steps += _successor(pending, 0, "pending key revoked: new successor")
    return steps
