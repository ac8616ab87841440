"""Key states and the records the lifecycle exchanges (DESIGN.md, "Key lifecycle").

``pending`` (published, not signing) -> ``active`` (published, the one signer)
-> ``retired`` (published, no longer signs) -> ``expired`` (unpublished, private
half destroyed); ``revoked`` is reachable from any state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from keywell.lifecycle.policy import RotationPolicy

__all__ = [
    "PUBLISHED_STATES",
    "AuditEvent",
    "KeyInfo",
    "KeySetInfo",
    "KeyState",
    "PublishedJWKS",
    "RotationResult",
    "Transition",
]


class KeyState(StrEnum):
    """Where a key is in its life."""

    PENDING = "pending"
    ACTIVE = "active"
    RETIRED = "retired"
    EXPIRED = "expired"
    REVOKED = "revoked"


PUBLISHED_STATES = frozenset({KeyState.PENDING, KeyState.ACTIVE, KeyState.RETIRED})
"""States whose public key appears in the JWKS."""


@dataclass(frozen=True)
class KeySetInfo:
    """A key set's identity, policy, change counter and custody.

    ``custody`` is the custody URI new keys are made in (``db``: sealed in the
    store; see :mod:`keywell.custody.uri`); it names no credential.
    """

    name: str
    issuer: str
    alg: str
    policy: RotationPolicy
    version: int
    created_at: datetime
    custody: str = "db"


@dataclass(frozen=True)
class KeyInfo:
    """One key's state and timestamps (``expires_at`` is the end of its publication)."""

    kid: str
    state: KeyState
    alg: str
    created_at: datetime
    published_at: datetime | None
    activated_at: datetime | None
    retired_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    revoke_reason: str | None
    custody: str = "db"  # the custody URI this key lives in (kept when the set's custody moves)


@dataclass(frozen=True)
class Transition:
    """A state change that happened (``old_state`` is ``None`` for a created key)."""

    keyset: str
    kid: str
    old_state: KeyState | None
    new_state: KeyState
    at: datetime
    reason: str


@dataclass(frozen=True)
class RotationResult:
    """What :meth:`keywell.Issuer.rotate` did, or when it will be possible."""

    performed: bool
    active_kid: str
    warning: str | None
    next_possible_at: datetime | None
    transitions: list[Transition]


@dataclass(frozen=True)
class PublishedJWKS:
    """The published JWK Set of one key-set version, ready to serve over HTTP."""

    body: bytes
    etag: str
    max_age: int
    cache_control: str
    version: int


@dataclass(frozen=True)
class AuditEvent:
    """One audit record: a state change or an admin action."""

    id: int
    at: datetime
    actor: str
    keyset: str | None
    kid: str | None
    old_state: str | None
    new_state: str | None
    action: str
    reason: str | None
