"""keywell: JSON Web Key Sets end to end.

Keys that rotate themselves, a JWKS endpoint that caches right, and fast, safe
JWT verification. The core needs ``cryptography`` alone; ``keywell.client``,
``keywell.server`` and ``keywell.cli`` come with their extras.
"""

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
from keywell.verifier import Verifier

__version__ = "0.1.0"

__all__ = [
    "JWK",
    "AlgorithmError",
    "ClaimError",
    "ExpiredTokenError",
    "InvalidKeyError",
    "InvalidSignatureError",
    "JWKSError",
    "JWKSFetchError",
    "JWKSet",
    "KEKError",
    "KeyNotSupportedError",
    "KeySetError",
    "KeySetExistsError",
    "KeySetNotFoundError",
    "KeywellError",
    "MalformedTokenError",
    "MissingClaimError",
    "NoMatchingKeyError",
    "NotYetValidError",
    "PolicyError",
    "TokenError",
    "TokenTooLargeError",
    "UnsupportedAlgorithmError",
    "Verifier",
    "WeakKeyWarning",
    "__version__",
    "jws",
    "jwt",
]
