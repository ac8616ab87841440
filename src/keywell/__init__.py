"""keywell: JSON Web Key Sets end to end.

Keys that rotate themselves, a JWKS endpoint that caches right, and fast, safe
JWT verification. The core needs ``cryptography`` alone; ``keywell.client``,
``keywell.server`` and ``keywell.cli`` come with their extras.
"""

import importlib
from typing import TYPE_CHECKING, Any

from keywell.errors import (
    AlgorithmError,
    ClaimError,
    DiscoveryError,
    ExpiredTokenError,
    InvalidHeaderError,
    InvalidInputError,
    InvalidKeyError,
    InvalidSignatureError,
    JWKSError,
    JWKSFetchError,
    KEKError,
    KeyNotFoundError,
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
    SkippedKeyError,
    TokenError,
    TokenTooLargeError,
    UnsupportedAlgorithmError,
)

if TYPE_CHECKING:
    from keywell.issuer import Issuer
    from keywell.jose import jws, jwt
    from keywell.jose.jwk import JWK, WeakKeyWarning
    from keywell.jose.jwkset import JWKSet
    from keywell.jose.verifier import Verifier
    from keywell.lifecycle import KeyState, RotationPolicy

__version__ = "0.1.0"

# Imported on first use (PEP 562), so `import keywell` stays cheap for the CLI,
# and Issuer (which needs SQLAlchemy) only loads when asked for.
_LAZY = {
    "Issuer": "keywell.issuer",
    "JWK": "keywell.jose.jwk",
    "JWKSet": "keywell.jose.jwkset",
    "KeyState": "keywell.lifecycle",
    "RotationPolicy": "keywell.lifecycle",
    "Verifier": "keywell.jose.verifier",
    "WeakKeyWarning": "keywell.jose.jwk",
    "jws": "keywell.jose",
    "jwt": "keywell.jose",
}


def __getattr__(name: str) -> Any:
    """Import public names on first use; see ``_LAZY``."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'keywell' has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:
        if name == "Issuer":  # the only lazy name outside the core
            raise ImportError(
                "keywell.Issuer needs the store extra: pip install 'keywell[store]'"
            ) from exc
        raise
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """List the lazy names too."""
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "JWK",
    "AlgorithmError",
    "ClaimError",
    "DiscoveryError",
    "ExpiredTokenError",
    "InvalidHeaderError",
    "InvalidInputError",
    "InvalidKeyError",
    "InvalidSignatureError",
    "Issuer",
    "JWKSError",
    "JWKSFetchError",
    "JWKSet",
    "KEKError",
    "KeyNotFoundError",
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
    "SkippedKeyError",
    "TokenError",
    "TokenTooLargeError",
    "UnsupportedAlgorithmError",
    "Verifier",
    "WeakKeyWarning",
    "__version__",
    "jws",
    "jwt",
]
