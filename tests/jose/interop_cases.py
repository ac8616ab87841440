"""The algorithms of the interop tests as cases, the claims every peer checks, and raw keys."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from keywell.jose.base64url import b64url_decode

ISS = "https://issuer.example"
AUD = "keywell-interop"


@dataclass(frozen=True)
class Case:
    """One algorithm as a test case: the ``alg`` header value and the key it needs."""

    id: str
    alg: str
    kty: str
    crv: str | None = None

    @property
    def formats(self) -> tuple[str, ...]:
        """How a key of this case travels: JWK or PEM, or JWK or raw bytes for a secret."""
        return ("jwk", "raw") if self.kty == "oct" else ("jwk", "pem")


_RSA = [Case(f"{p}{b}", f"{p}{b}", "RSA") for p in ("RS", "PS") for b in (256, 384, 512)]
_EC = [
    Case("ES256", "ES256", "EC", "P-256"),
    Case("ES384", "ES384", "EC", "P-384"),
    Case("ES512", "ES512", "EC", "P-521"),
    Case("ES256K", "ES256K", "EC", "secp256k1"),
]
_OKP = [
    Case("EdDSA-Ed25519", "EdDSA", "OKP", "Ed25519"),
    Case("EdDSA-Ed448", "EdDSA", "OKP", "Ed448"),
    Case("Ed25519", "Ed25519", "OKP", "Ed25519"),  # RFC 9864 fully specified name
    Case("Ed448", "Ed448", "OKP", "Ed448"),  # RFC 9864 fully specified name
]
_HS = [Case(f"HS{b}", f"HS{b}", "oct") for b in (256, 384, 512)]
CASES: dict[str, Case] = {c.id: c for c in _RSA + _EC + _OKP + _HS}
ALL = frozenset(CASES)
RFC9864 = frozenset({"Ed25519", "Ed448"})
HMAC = frozenset(c.id for c in _HS)


def claims_now() -> dict[str, Any]:
    """Claims every verifier checks: issuer, audience, expiry, plus a few payload types."""
    now = int(time.time())
    return {
        "iss": ISS,
        "aud": AUD,
        "sub": "user-1",
        "iat": now,
        "exp": now + 600,
        "scope": "read write",
        "n": 7,
        "nested": {"a": [1, "ü", None]},
    }


def crypto_key(case: Case) -> Any:
    """A fresh ``cryptography`` private key (or secret bytes) for ``case``."""
    if case.kty == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if case.kty == "EC":
        curves = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}
        return ec.generate_private_key(curves.get(case.crv or "", ec.SECP256K1()))
    if case.kty == "OKP":
        if case.crv == "Ed448":
            return ed448.Ed448PrivateKey.generate()
        return ed25519.Ed25519PrivateKey.generate()
    return secrets.token_bytes(int(size_of(case)) // 8)


def size_of(case: Case) -> Any:
    """The size (RSA modulus, HMAC secret bits) or curve name a generator asks for."""
    if case.kty == "RSA":
        return 2048
    if case.kty == "oct":
        return int(case.alg[2:])
    return case.crv


def ec_members_full_length(members: dict[str, Any]) -> bool:
    """Whether an EC JWK's x, y (and d) are the full coordinate length (RFC 7518 6.2.1.2)."""
    size = {"P-256": 32, "P-384": 48, "P-521": 66, "secp256k1": 32}[members["crv"]]
    return all(len(b64url_decode(members[m])) == size for m in ("x", "y", "d") if m in members)
