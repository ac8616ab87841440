"""keywell.jose: the standards layer (RFC 7515, 7517, 7518, 7519, 7638, 8037, 8725, 9278, 9864).

Pure code with no I/O; depends on ``cryptography`` alone.
"""

from keywell.jose import jws, jwt
from keywell.jose.algorithms import ALGORITHMS, ASYMMETRIC_ALGORITHMS, Algorithm
from keywell.jose.base64url import b64url_decode, b64url_encode
from keywell.jose.jwk import JWK, WeakKeyWarning
from keywell.jose.jwkset import JWKSet, SkippedKey
from keywell.jose.jws import DEFAULT_MAX_TOKEN_SIZE, KeySource, VerifiedJWS
from keywell.jose.verifier import AsyncKeySource, Verifier

__all__ = [
    "ALGORITHMS",
    "ASYMMETRIC_ALGORITHMS",
    "DEFAULT_MAX_TOKEN_SIZE",
    "JWK",
    "Algorithm",
    "AsyncKeySource",
    "JWKSet",
    "KeySource",
    "SkippedKey",
    "VerifiedJWS",
    "Verifier",
    "WeakKeyWarning",
    "b64url_decode",
    "b64url_encode",
    "jws",
    "jwt",
]
