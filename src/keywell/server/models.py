"""Response bodies of the admin API (the OpenAPI schema is generated from them).

Durations travel as whole seconds; times as RFC 3339 strings. The request
bodies are in :mod:`keywell.server.bodies`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from keywell.lifecycle import AuditEvent, KeyInfo, KeySetInfo, RotationResult, Transition
from keywell.lifecycle.wire import audit_dict, key_dict, keyset_dict, rotation_dict, transition_dict
from keywell.server.bodies import PolicyModel

__all__ = [
    "AuditOut",
    "KeyOut",
    "KeySetOut",
    "MintOut",
    "ProblemOut",
    "RotateOut",
    "TransitionOut",
]


class KeySetOut(BaseModel):
    """A key set."""

    name: str
    issuer: str
    alg: str
    version: int
    created_at: datetime
    policy: PolicyModel
    custody: str = Field(
        description="custody URI new keys are made in: db (sealed in the store) or an "
        "HSM/KMS (pkcs11:, transit://, awskms:); it names where a credential is, never one"
    )
    jwks_uri: str | None = Field(description="null for HMAC sets, which are never published")

    @classmethod
    def of(cls, info: KeySetInfo, jwks_uri: str | None) -> KeySetOut:
        """The wire form of ``info`` (:func:`keywell.lifecycle.wire.keyset_dict`)."""
        return cls.model_validate({**keyset_dict(info), "jwks_uri": jwks_uri})


class KeyOut(BaseModel):
    """One key's state and timestamps."""

    kid: str
    state: Literal["pending", "active", "retired", "expired", "revoked"]
    alg: str
    created_at: datetime
    published_at: datetime | None
    activated_at: datetime | None
    retired_at: datetime | None
    expires_at: datetime | None = Field(description="end of publication")
    revoked_at: datetime | None
    revoke_reason: str | None
    custody: str = Field(description="custody URI the key lives in (kept when the set's moves)")

    @classmethod
    def of(cls, k: KeyInfo) -> KeyOut:
        """The wire form of ``k`` (:func:`keywell.lifecycle.wire.key_dict`)."""
        return cls.model_validate(key_dict(k))


class TransitionOut(BaseModel):
    """A state change that happened."""

    keyset: str
    kid: str
    old_state: str | None
    new_state: str
    at: datetime
    reason: str
    committed_at: datetime | None = Field(
        default=None,
        description="When the change had been committed (revocations): every replica serves "
        "the new key set once the call returns",
    )

    @classmethod
    def of(cls, t: Transition, committed_at: datetime | None = None) -> TransitionOut:
        """The wire form of ``t`` (:func:`keywell.lifecycle.wire.transition_dict`)."""
        return cls.model_validate({**transition_dict(t), "committed_at": committed_at})


class RotateOut(BaseModel):
    """What a rotation did, or when a planned one becomes possible."""

    performed: bool
    active_kid: str
    warning: str | None
    next_possible_at: datetime | None
    transitions: list[TransitionOut]
    committed_at: datetime | None = Field(
        default=None,
        description="When an emergency rotation had been committed: every replica serves "
        "the new key set once the call returns",
    )

    @classmethod
    def of(cls, r: RotationResult, committed_at: datetime | None = None) -> RotateOut:
        """The wire form of ``r`` (:func:`keywell.lifecycle.wire.rotation_dict`)."""
        wire = rotation_dict(r)
        for t in wire["transitions"]:
            t["committed_at"] = committed_at
        return cls.model_validate({**wire, "committed_at": committed_at})


class AuditOut(BaseModel):
    """One audit record."""

    id: int
    at: datetime
    actor: str
    keyset: str | None
    kid: str | None
    old_state: str | None
    new_state: str | None
    action: str
    reason: str | None

    @classmethod
    def of(cls, e: AuditEvent) -> AuditOut:
        """The wire form of ``e`` (:func:`keywell.lifecycle.wire.audit_dict`)."""
        return cls.model_validate(audit_dict(e))


class MintOut(BaseModel):
    """A signed JWT; ``token_type`` is ``DPoP`` when a DPoP proof bound it (RFC 9449 5)."""

    token: str
    token_type: Literal["JWT", "DPoP"] = "JWT"  # noqa: S105 - a media type name, not a secret


class ProblemOut(BaseModel):
    """An RFC 9457 problem document."""

    type: str
    title: str
    status: int
    detail: str
    code: str
