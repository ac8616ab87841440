"""Request bodies of the admin API (the OpenAPI schema is generated from them).

Durations travel as whole seconds. Request bodies are strict (pydantic strict
mode, unknown members forbidden): ``"yes"`` is no boolean and ``true`` no
number of seconds. Names, issuers and reasons are checked by the rules of
:mod:`keywell.lifecycle.names`, the same the Issuer applies; the OpenAPI
schema states them as patterns and lengths. Registered mint claims must have
the JSON types verifiers require (RFC 7519 section 4.1).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from keywell.lifecycle import RotationPolicy
from keywell.lifecycle.names import (
    ISSUER_MAX,
    KEYSET_NAME_MAX,
    KEYSET_NAME_PATTERN,
    REASON_MAX,
    check_issuer,
    check_keyset_name,
    check_reason,
)
from keywell.lifecycle.rules import SigningAlg
from keywell.lifecycle.wire import policy_dict

__all__ = ["CustodyIn", "KeySetCreate", "MintIn", "PolicyModel", "RevokeIn", "RotateIn"]

_TEN_YEARS = 10 * 366 * 86400
Seconds = int
Alg = SigningAlg  # the one list, in keywell.lifecycle.rules
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
        """The wire form of ``policy`` (:func:`keywell.lifecycle.wire.policy_dict`)."""
        return cls.model_validate(policy_dict(policy))


class KeySetCreate(_Strict):
    """A new key set."""

    name: KeySetName
    issuer: IssuerURL
    alg: Alg = "ES256"
    policy: PolicyModel | None = None
    custody: CustodyURI = "db"


CustodyURI = Annotated[
    str,
    Field(
        max_length=2000,
        description="where the set's private keys live: db (sealed in the store) or a custody "
        "URI (pkcs11:..., transit://host:port/mount?token-file=..., awskms:region=...); a "
        "credential is named by file or environment variable, never given inline",
    ),
]


class CustodyIn(_Strict):
    """A custody move: the set's next keys are made in ``custody`` (existing keys stay)."""

    custody: CustodyURI


class RotateIn(_Strict):
    """A rotation request: planned by default, or an emergency."""

    emergency: bool = False


class RevokeIn(_Strict):
    """A revocation; the reason is recorded in the audit log."""

    reason: Reason


class MintIn(_Strict):
    """Claims to sign; ``iss``, ``iat``, ``exp`` and ``jti`` are set by the server.

    The claims' rules (registered JSON types, ``nbf`` before ``exp``, the
    token's size) are the Issuer's (:func:`keywell.issuer.signing.check_minted`),
    applied when it signs; a refusal is a 422 problem naming the claim.
    """

    claims: dict[str, Any] = Field(default_factory=dict)
    ttl: Seconds | None = Field(
        default=None,
        ge=1,
        le=_TEN_YEARS,
        description="token lifetime in seconds; at most the set's max_token_ttl",
    )
