"""keywell.jose: the standards layer (RFC 7515-7519, 7638, 8037, 8725, 9068, 9278, 9449, 9864).

Pure code with no I/O; depends on ``cryptography`` alone.
"""

from keywell.jose import jws, jwt
from keywell.jose.algorithms import ALGORITHMS, ASYMMETRIC_ALGORITHMS, Algorithm
from keywell.jose.base64url import b64url_decode, b64url_encode
from keywell.jose.dpop import DPoPProof, access_token_hash, check_proof, make_proof
from keywell.jose.dpop_nonce import HMACNonces, NonceSource
from keywell.jose.dpop_policy import DEFAULT_DPOP_ALGORITHMS, DPoPPolicy
from keywell.jose.dpop_replay import MemoryReplayStore, RedisReplayStore, ReplayStore
from keywell.jose.dpop_uri import normalize_htu
from keywell.jose.jwk import JWK, WeakKeyWarning
from keywell.jose.jwkset import JWKSet, SkippedKey
from keywell.jose.jws import DEFAULT_MAX_TOKEN_SIZE, KeySource, VerifiedJWS
from keywell.jose.verifier import AsyncKeySource, Verifier

__all__ = [
    "ALGORITHMS",
    "ASYMMETRIC_ALGORITHMS",
    "DEFAULT_DPOP_ALGORITHMS",
    "DEFAULT_MAX_TOKEN_SIZE",
    "JWK",
    "Algorithm",
    "AsyncKeySource",
    "DPoPPolicy",
    "DPoPProof",
    "HMACNonces",
    "JWKSet",
    "KeySource",
    "MemoryReplayStore",
    "NonceSource",
    "RedisReplayStore",
    "ReplayStore",
    "SkippedKey",
    "VerifiedJWS",
    "Verifier",
    "WeakKeyWarning",
    "access_token_hash",
    "b64url_decode",
    "b64url_encode",
    "check_proof",
    "jws",
    "jwt",
    "make_proof",
    "normalize_htu",
]
