"""keywell: JSON Web Key Sets end to end.

Keys that rotate themselves, a JWKS endpoint that caches right, and fast, safe
JWT verification. The core needs ``cryptography`` alone; ``keywell.client``,
``keywell.server`` and ``keywell.cli`` come with their extras.
"""

from typing import TYPE_CHECKING, Any

from keywell.errors import (
    AlgorithmError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyError,
    InvalidSignatureError,
    JWKSError,
    JWKSFetchError,
    KEKError,
    KeyNotSupportedError,
    KeySetError,
    KeySetExistsError,
    KeySetNotFoundError,
    KeywellError,
    MalformedTokenError,
    MissingClaimError,
    NoMatchingKeyError,
    NotYetValidError,
    PolicyError,
    TokenError,
    TokenTooLargeError,
    UnsupportedAlgorithmError,
)
from keywell.jose import jws, jwt
from keywell.jose.jwk import JWK, WeakKeyWarning
from keywell.jose.jwkset import JWKSet
from keywell.lifecycle import KeyState, RotationPolicy
from keywell.verifier import Verifier

if TYPE_CHECKING:
    from keywell.issuer import Issuer

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """Import :class:`Issuer` on first use: it needs the ``store`` extra (SQLAlchemy)."""
    if name == "Issuer":
        from keywell.issuer import Issuer

        return Issuer
    raise AttributeError(f"module 'keywell' has no attribute {name!r}")

__all__ = [
    "JWK",
    "AlgorithmError",
    "ClaimError",
    "ExpiredTokenError",
    "InvalidKeyError",
    "InvalidSignatureError",
    "Issuer",
    "JWKSError",
    "JWKSFetchError",
    "JWKSet",
    "KEKError",
    "KeyNotSupportedError",
    "KeySetError",
    "KeySetExistsError",
    "KeySetNotFoundError",
    "KeyState",
    "KeywellError",
    "MalformedTokenError",
    "MissingClaimError",
    "NoMatchingKeyError",
    "NotYetValidError",
    "PolicyError",
    "RotationPolicy",
    "TokenError",
    "TokenTooLargeError",
    "UnsupportedAlgorithmError",
    "Verifier",
    "WeakKeyWarning",
    "__version__",
    "jws",
    "jwt",
]
