"""Conversions between table rows and lifecycle records."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Row

from keywell.lifecycle import AuditEvent, KeyInfo, KeySetInfo, KeyState, RotationPolicy

__all__ = ["audit_event", "key_info", "keyset_info", "policy_values", "to_us"]


def to_us(value: timedelta) -> int:
    """A duration as integer microseconds (exact)."""
    return value // timedelta(microseconds=1)


def _td(us: int) -> timedelta:
    return timedelta(microseconds=us)


def policy_values(policy: RotationPolicy) -> dict[str, Any]:
    """The key-set columns that hold ``policy``."""
    return {
        "rotation_period_us": to_us(policy.rotation_period),
        "prepublish_us": None if policy.prepublish is None else to_us(policy.prepublish),
        "max_token_ttl_us": to_us(policy.max_token_ttl),
        "jwks_max_age_us": to_us(policy.jwks_max_age),
        "clock_skew_us": to_us(policy.clock_skew),
    }


def keyset_info(row: Row[Any]) -> KeySetInfo:
    """A key-set row as :class:`KeySetInfo`."""
    m = row._mapping
    policy = RotationPolicy(
        rotation_period=_td(m["rotation_period_us"]),
        prepublish=None if m["prepublish_us"] is None else _td(m["prepublish_us"]),
        max_token_ttl=_td(m["max_token_ttl_us"]),
        jwks_max_age=_td(m["jwks_max_age_us"]),
        clock_skew=_td(m["clock_skew_us"]),
    )
    return KeySetInfo(
        name=m["name"],
        issuer=m["issuer"],
        alg=m["alg"],
        policy=policy,
        version=m["version"],
        created_at=m["created_at"],
        custody=m["custody"],
    )


def key_info(row: Row[Any]) -> KeyInfo:
    """A key row as :class:`KeyInfo`."""
    m = row._mapping
    return KeyInfo(
        kid=m["kid"],
        state=KeyState(m["state"]),
        alg=m["alg"],
        created_at=m["created_at"],
        published_at=m["published_at"],
        activated_at=m["activated_at"],
        retired_at=m["retired_at"],
        expires_at=m["expires_at"],
        revoked_at=m["revoked_at"],
        revoke_reason=m["revoke_reason"],
        custody=m["custody"] or "db",
    )


def audit_event(row: Row[Any]) -> AuditEvent:
    """An audit row as :class:`AuditEvent`."""
    m = row._mapping
    return AuditEvent(
        id=m["id"],
        at=m["at"],
        actor=m["actor"],
        keyset=m["keyset"],
        kid=m["kid"],
        old_state=m["old_state"],
        new_state=m["new_state"],
        action=m["action"],
        reason=m["reason"],
    )
