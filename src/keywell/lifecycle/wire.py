"""The wire form of policies, key sets, keys, transitions and rotations, written once.

Plain dicts with durations in whole seconds and times as RFC 3339 strings
(``2025-01-31T12:00:00Z``). The admin API's response models
(``keywell.server.models``) are validated from these dicts and the CLI prints
them as they are, so a command's ``--json`` output is the same whether it read
the local store or a server.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from keywell.lifecycle import (
        AuditEvent,
        KeyInfo,
        KeySetInfo,
        RotationPolicy,
        RotationResult,
        Transition,
    )

__all__ = [
    "audit_dict",
    "key_dict",
    "keyset_dict",
    "policy_dict",
    "rotation_dict",
    "timestamp",
    "transition_dict",
]


def timestamp(value: datetime | None) -> str | None:
    """An RFC 3339 UTC time ending in ``Z``; None stays None."""
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _secs(value: timedelta) -> int:
    """Whole seconds, at least 1 (a policy built in code may use fractions)."""
    return max(1, round(value.total_seconds()))


def policy_dict(policy: RotationPolicy) -> dict[str, Any]:
    """A policy in whole seconds (``prepublish`` may be ``None``: the rotation period)."""
    return {
        "rotation_period": _secs(policy.rotation_period),
        "prepublish": None if policy.prepublish is None else _secs(policy.prepublish),
        "max_token_ttl": _secs(policy.max_token_ttl),
        "jwks_max_age": _secs(policy.jwks_max_age),
        "clock_skew": int(policy.clock_skew.total_seconds()),
    }


def keyset_dict(info: KeySetInfo) -> dict[str, Any]:
    """A key set in wire form."""
    return {
        "name": info.name,
        "issuer": info.issuer,
        "alg": info.alg,
        "version": info.version,
        "created_at": timestamp(info.created_at),
        "policy": policy_dict(info.policy),
        "custody": info.custody,
    }


def key_dict(k: KeyInfo) -> dict[str, Any]:
    """A key's state and timestamps in wire form."""
    return {
        "kid": k.kid,
        "state": k.state.value,
        "alg": k.alg,
        "created_at": timestamp(k.created_at),
        "published_at": timestamp(k.published_at),
        "activated_at": timestamp(k.activated_at),
        "retired_at": timestamp(k.retired_at),
        "expires_at": timestamp(k.expires_at),
        "revoked_at": timestamp(k.revoked_at),
        "revoke_reason": k.revoke_reason,
        "custody": k.custody,
    }


def transition_dict(t: Transition) -> dict[str, Any]:
    """A transition in wire form."""
    old = None if t.old_state is None else t.old_state.value
    return {
        "keyset": t.keyset,
        "kid": t.kid,
        "old_state": old,
        "new_state": t.new_state.value,
        "at": timestamp(t.at),
        "reason": t.reason,
    }


def rotation_dict(r: RotationResult) -> dict[str, Any]:
    """A rotation result in wire form."""
    return {
        "performed": r.performed,
        "active_kid": r.active_kid,
        "warning": r.warning,
        "next_possible_at": timestamp(r.next_possible_at),
        "transitions": [transition_dict(t) for t in r.transitions],
    }


def audit_dict(e: AuditEvent) -> dict[str, Any]:
    """An audit record in wire form."""
    return {
        "id": e.id,
        "at": timestamp(e.at),
        "actor": e.actor,
        "keyset": e.keyset,
        "kid": e.kid,
        "old_state": e.old_state,
        "new_state": e.new_state,
        "action": e.action,
        "reason": e.reason,
    }
