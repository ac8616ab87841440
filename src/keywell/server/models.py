"""Request and response bodies of the admin API (the OpenAPI schema is generated from them).

Durations travel as whole seconds; times as RFC 3339 strings. Request bodies
are strict (pydantic strict mode, unknown members forbidden): ``"yes"`` is no
boolean and ``true`` no number of seconds. Names, issuers and reasons are
checked by the rules of :mod:`keywell.lifecycle.names`, the same the Issuer
applies; the OpenAPI schema states them as patterns and lengths.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from keywell.lifecycle import (
    AuditEvent,
    KeyInfo,
    KeySetInfo,
    RotationPolicy,
    RotationResult,
    Transition,
)
from keywell.lifecycle.names import (
    ISSUER_MAX,
    KEYSET_NAME_MAX,
    KEYSET_NAME_PATTERN,
    REASON_MAX,
    check_issuer,
    check_keyset_name,
    check_reason,
)

__all__ = [
    "AuditOut",
    "KeyOut",
    "KeySetCreate",
    "KeySetOut",
    "MintIn",
    "MintOut",
    "PolicyModel",
    "ProblemOut",
    "RevokeIn",
    "RotateIn",
    "RotateOut",
    "TransitionOut",
]

_TEN_YEARS = 10 * 366 * 86400
Seconds = int
Alg = Literal["RS256", "PS256", "ES256", "ES384", "ES512", "EdDSA", "HS256"]
KeySetName = Annotated[
    str,
    AfterValidator(check_keyset_name),
    Field(max_length=KEYSET_NAME_MAX, json_schema_extra={"pattern": KEYSET_NAME_PATTERN}),
]
IssuerURL = Annotated[
    str,
    AfterValidator(check_issuer),
    Field(max_length=ISSUER_MAX, description="the `iss` of its tokens: an https URL"),
]
Reason = Annotated[str, AfterValidator(check_reason), Field(max_length=REASON_MAX)]
_MAX_DATE = 2**53  # as the verifier (keywell.jose.claims): larger NumericDates are refused


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


_DEFAULT = RotationPolicy()


def _secs(field: str, default: timedelta) -> Any:
    return Field(
        default=int(default.total_seconds()),
        ge=1,
        le=_TEN_YEARS,
        description=f"{field} in seconds",
    )


def _whole(d: timedelta) -> int:
    """Whole seconds, at least 1 (a policy built in code may use fractions)."""
    return max(1, round(d.total_seconds()))


class PolicyModel(_Strict):
    """A rotation policy; every duration in whole seconds."""

    rotation_period: Seconds = _secs(
        "how long a key is the active signer", _DEFAULT.rotation_period
    )
    prepublish: Seconds | None = Field(
        default=None,
        ge=1,
        le=_TEN_YEARS,
        description="seconds a key is published before it signs; null: rotation_period",
    )
    max_token_ttl: Seconds = _secs("the longest lifetime of a token", _DEFAULT.max_token_ttl)
    jwks_max_age: Seconds = _secs(
        "Cache-Control max-age of the published set", _DEFAULT.jwks_max_age
    )
    clock_skew: Seconds = Field(default=60, ge=0, le=_TEN_YEARS)

    def to_policy(self) -> RotationPolicy:
        """The lifecycle policy (raises ``PolicyError`` when inconsistent)."""
        return RotationPolicy(
            rotation_period=timedelta(seconds=self.rotation_period),
            prepublish=None if self.prepublish is None else timedelta(seconds=self.prepublish),
            max_token_ttl=timedelta(seconds=self.max_token_ttl),
            jwks_max_age=timedelta(seconds=self.jwks_max_age),
            clock_skew=timedelta(seconds=self.clock_skew),
        )

    @classmethod
    def of(cls, policy: RotationPolicy) -> PolicyModel:
        """The wire form of ``policy``."""
        return cls(
            rotation_period=_whole(policy.rotation_period),
            prepublish=None if policy.prepublish is None else _whole(policy.prepublish),
            max_token_ttl=_whole(policy.max_token_ttl),
            jwks_max_age=_whole(policy.jwks_max_age),
            clock_skew=int(policy.clock_skew.total_seconds()),
        )


class KeySetCreate(_Strict):
    """A new key set."""

    name: KeySetName
    issuer: IssuerURL
    alg: Alg = "ES256"
    policy: PolicyModel | None = None


class KeySetOut(BaseModel):
    """A key set."""

    name: str
    issuer: str
    alg: str
    version: int
    created_at: datetime
    policy: PolicyModel
    jwks_uri: str | None = Field(description="null for HMAC sets, which are never published")

    @classmethod
    def of(cls, info: KeySetInfo, jwks_uri: str | None) -> KeySetOut:
        """The wire form of ``info``."""
        return cls(
            name=info.name,
            issuer=info.issuer,
            alg=info.alg,
            version=info.version,
            created_at=info.created_at,
            policy=PolicyModel.of(info.policy),
            jwks_uri=jwks_uri,
        )


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

    @classmethod
    def of(cls, k: KeyInfo) -> KeyOut:
        """The wire form of ``k``."""
        return cls(
            kid=k.kid,
            state=k.state.value,
            alg=k.alg,
            created_at=k.created_at,
            published_at=k.published_at,
            activated_at=k.activated_at,
            retired_at=k.retired_at,
            expires_at=k.expires_at,
            revoked_at=k.revoked_at,
            revoke_reason=k.revoke_reason,
        )


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
        """The wire form of ``t``."""
        old = None if t.old_state is None else str(t.old_state.value)
        return cls(
            keyset=t.keyset,
            kid=t.kid,
            old_state=old,
            new_state=str(t.new_state.value),
            at=t.at,
            reason=t.reason,
            committed_at=committed_at,
        )


class RotateIn(_Strict):
    """A rotation request: planned by default, or an emergency."""

    emergency: bool = False


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
        """The wire form of ``r``."""
        return cls(
            performed=r.performed,
            active_kid=r.active_kid,
            warning=r.warning,
            next_possible_at=r.next_possible_at,
            transitions=[TransitionOut.of(t, committed_at) for t in r.transitions],
            committed_at=committed_at,
        )


class RevokeIn(_Strict):
    """A revocation; the reason is recorded in the audit log."""

    reason: Reason


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
        """The wire form of ``e``."""
        return cls(
            id=e.id,
            at=e.at,
            actor=e.actor,
            keyset=e.keyset,
            kid=e.kid,
            old_state=e.old_state,
            new_state=e.new_state,
            action=e.action,
            reason=e.reason,
        )


class MintIn(_Strict):
    """Claims to sign; ``iss``, ``iat``, ``exp`` and ``jti`` are set by the server."""

    claims: dict[str, Any] = Field(default_factory=dict)
    ttl: Seconds | None = Field(
        default=None,
        ge=1,
        le=_TEN_YEARS,
        description="token lifetime in seconds; at most the set's max_token_ttl",
    )

    @field_validator("claims")
    @classmethod
    def _registered_types(cls, claims: dict[str, Any]) -> dict[str, Any]:
        """Registered claims of the JSON type verifiers require (RFC 7519 section 4.1)."""
        if "nbf" in claims:
            nbf = claims["nbf"]
            if type(nbf) not in (int, float) or not -_MAX_DATE <= nbf <= _MAX_DATE:
                raise ValueError("nbf must be a NumericDate (seconds since the epoch)")
        for name in ("iss", "sub"):
            if name in claims and type(claims[name]) is not str:
                raise ValueError(f"{name} must be a string")
        if "aud" in claims:
            aud = claims["aud"]
            if type(aud) is not str and not (
                type(aud) is list and aud and all(type(a) is str for a in aud)
            ):
                raise ValueError("aud must be a string or a non-empty array of strings")
        return claims


class MintOut(BaseModel):
    """A signed JWT."""

    token: str
    token_type: Literal["JWT"] = "JWT"  # noqa: S105 - a media type name, not a secret


class ProblemOut(BaseModel):
    """An RFC 9457 problem document."""

    type: str
    title: str
    status: int
    detail: str
    code: str
