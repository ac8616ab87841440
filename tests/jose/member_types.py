"""The Kind A table: every registered header parameter and claim x a dozen JSON values.

Each case is a token signed by the trusted key whose header or payload holds
``member: value``; :func:`expected` says what a verifier with
``issuer=ISS, audience=AUD`` (exp required) must answer: an error class (with
the member or claim it names) or ``None`` for a documented acceptance.
"""

from __future__ import annotations

import json
from typing import Any

from keywell import (
    JWK,
    ClaimError,
    ExpiredTokenError,
    InvalidHeaderError,
    JWKSet,
    KeywellError,
    MissingClaimError,
    NoMatchingKeyError,
    UnsupportedAlgorithmError,
)
from keywell.jose._compact import compact
from keywell.jose.base64url import b64url_encode

ISS = "https://issuer.example"
AUD = "api"
NOW = 1_900_000_000
KEY = JWK.generate("ES256", kid="k1")
KEYS = JWKSet([KEY.public()])

HEADER_MEMBERS = (
    "alg",
    "jku",
    "jwk",
    "kid",
    "x5u",
    "x5c",
    "x5t",
    "x5t#S256",
    "typ",
    "cty",
    "crit",
    "b64",
)
CLAIMS = ("iss", "sub", "aud", "exp", "nbf", "iat", "jti", "cnf", "client_id")
LONG = "y" * 10_000
VALUES: dict[str, Any] = {
    "null": None,
    "false": False,
    "true": True,
    "0": 0,
    "-1": -1,
    "1.5": 1.5,
    "empty": "",
    "x": "x",
    "[]": [],
    "[null]": [None],
    "{}": {},
    "10k": LONG,
}
CASES = [
    (where, member, label)
    for where, members in (("header", HEADER_MEMBERS), ("claim", CLAIMS))
    for member in members
    for label in VALUES
]
CASE_IDS = [f"{where}-{member}-{label}" for where, member, label in CASES]

Expected = tuple[type[KeywellError], dict[str, str]] | None


def forge(header: dict[str, Any], claims: dict[str, Any], key: JWK = KEY) -> str:
    """A compact JWS with exactly ``header`` and ``claims``, signed by ``key`` with ES256."""
    segment = b64url_encode(json.dumps(header).encode())
    _, signer = key.signer("ES256")
    return compact(segment, json.dumps(claims).encode(), signer)


def token_for(where: str, member: str, label: str) -> str:
    """The token of one table case."""
    header: dict[str, Any] = {"alg": "ES256", "typ": "JWT", "kid": "k1"}
    claims: dict[str, Any] = {"iss": ISS, "aud": AUD, "sub": "alice", "exp": NOW + 300}
    (header if where == "header" else claims)[member] = VALUES[label]
    return forge(header, claims)


_STRINGS = ("empty", "x", "10k")


def expected(where: str, member: str, label: str) -> Expected:
    """What verifying the case's token must give (see the module docstring)."""
    value = VALUES[label]
    if where == "header":
        bad = (InvalidHeaderError, {"member": member})
        if member == "alg":
            return (UnsupportedAlgorithmError, {}) if label in _STRINGS else bad
        if member == "kid":
            return (NoMatchingKeyError, {}) if label in _STRINGS else bad
        if member in ("jku", "x5u", "x5t", "x5t#S256", "typ", "cty"):
            return None if label in _STRINGS else bad  # never used to find a key
        if member == "jwk":
            return None if label == "{}" else bad  # never used to find a key
        if member == "b64":
            return None if value is True else bad
        return bad  # x5c, crit: no value of the table is a valid one
    if value is None and member in ("iss", "aud", "exp"):
        return (MissingClaimError, {"claim": member})  # required: null is not present
    wrong = (ClaimError, {"claim": member, "reason": "type"})
    numeric = type(value) in (int, float)
    if member in ("iss", "aud"):
        return (ClaimError, {"claim": member, "reason": "mismatch"}) if label in _STRINGS else wrong
    if member in ("sub", "jti", "client_id"):
        return None if label in _STRINGS else wrong
    if member == "exp":
        return (ExpiredTokenError, {"claim": "exp"}) if numeric else wrong
    if member in ("nbf", "iat"):
        return None if numeric else wrong
    return None if label == "{}" else wrong  # cnf (RFC 7800 section 3.1)
