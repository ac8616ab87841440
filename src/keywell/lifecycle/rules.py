"""Key-set rules beside names and durations, each written once.

Every part that needs one of these imports it from here: the Issuer, the
admin API's request and response models, the public endpoints and the CLI.

- **Signing algorithms** a key set may use (RFC 7518 section 3.1; EdDSA is
  Ed25519, RFC 8037): :data:`SigningAlg` and :data:`SIGNING_ALGORITHMS`.
- **Publishable**: HMAC (``HS*``) sets are private to their issuer and never
  published (a secret key has no public half): :func:`is_publishable`.
- **JWKS path** of a set: ``/.well-known/jwks.json`` for the server's default
  set, ``/keysets/{name}/jwks.json`` for every set: :func:`jwks_path`,
  :func:`jwks_uri`.
- **Strong ETag** of a published body: the quoted base64url SHA-256 of the
  exact bytes (RFC 9110 section 8.8.3): :func:`strong_etag`.
"""

from __future__ import annotations

import hashlib
from typing import Literal, get_args

from keywell.jose.base64url import b64url_encode

__all__ = [
    "MIN_RSA_BITS",
    "SIGNING_ALGORITHMS",
    "SigningAlg",
    "check_signing_alg",
    "is_publishable",
    "jwks_path",
    "jwks_uri",
    "key_size",
    "strong_etag",
]

SigningAlg = Literal["RS256", "PS256", "ES256", "ES384", "ES512", "EdDSA", "HS256"]
#: The algorithms a key set may sign with.
SIGNING_ALGORITHMS: frozenset[str] = frozenset(get_args(SigningAlg))
_RSA = frozenset({"RS256", "PS256"})
#: The smallest RSA modulus a key set may use, in bits (RFC 7518 section 3.3).
MIN_RSA_BITS = 2048


def check_signing_alg(alg: object, rsa_bits: int = MIN_RSA_BITS) -> str:
    """``alg`` if a key set may sign with it (and ``rsa_bits`` is large enough).

    Raises:
        ValueError: another algorithm, or fewer than :data:`MIN_RSA_BITS` bits.
    """
    if alg not in SIGNING_ALGORITHMS:
        raise ValueError(f"alg must be one of {sorted(SIGNING_ALGORITHMS)}")
    if rsa_bits < MIN_RSA_BITS:
        raise ValueError(f"rsa_bits must be at least {MIN_RSA_BITS}")
    return str(alg)


def key_size(alg: str, rsa_bits: int) -> int | None:
    """The modulus size a set of ``alg`` stores: ``rsa_bits`` for RSA, else ``None``."""
    return rsa_bits if alg in _RSA else None


def is_publishable(alg: str) -> bool:
    """Whether a set signing with ``alg`` is published: never for HMAC (``HS*``)."""
    return not alg.upper().startswith("HS")


def jwks_path(name: str, *, default: bool = False) -> str:
    """The path of the set's JWKS: ``/.well-known/jwks.json`` for the default set."""
    return "/.well-known/jwks.json" if default else f"/keysets/{name}/jwks.json"


def jwks_uri(base_url: str, name: str, alg: str, *, default: bool = False) -> str | None:
    """The set's absolute ``jwks_uri`` under ``base_url``; ``None`` for an unpublished set."""
    if not is_publishable(alg):
        return None
    return base_url + jwks_path(name, default=default)


def strong_etag(body: bytes) -> str:
    """The strong ETag of ``body``: ``"<base64url SHA-256>"`` (RFC 9110 section 8.8.3)."""
    return '"' + b64url_encode(hashlib.sha256(body).digest()) + '"'
