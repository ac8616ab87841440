"""The JWK member and algorithm tables the linter judges keys against.

Members come from the IANA "JSON Web Key Parameters" registry (RFC 7517
section 8.1, RFC 7518 section 7.5, RFC 8037 section 5); signature algorithms
from :mod:`keywell.jose.algorithms`; key-management algorithms from RFC 7518
section 4 and RFC 8037 section 3 (the linter must recognise encryption keys to
say they do not belong in a signing set).
"""

from __future__ import annotations

from keywell.jose.algorithms import ALGORITHMS

__all__ = [
    "ENC_ALGS",
    "ENC_OPS",
    "KNOWN_MEMBERS",
    "PRIVATE_MEMBERS",
    "SIG_OPS",
    "enc_alg_fits",
    "role_of",
]

#: Members that only a private (or secret) key carries (RFC 7518 section 6).
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth")

KNOWN_MEMBERS = frozenset(
    {
        # RFC 7517 section 4
        "kty",
        "use",
        "key_ops",
        "alg",
        "kid",
        "x5u",
        "x5c",
        "x5t",
        "x5t#S256",
        # RFC 7518 section 6 (key material) and RFC 8037 section 2
        "crv",
        "x",
        "y",
        "n",
        "e",
        "k",
        *PRIVATE_MEMBERS,
        # W3C WebCrypto's "ext", which browsers add to every exported key
        "ext",
    }
)

SIG_OPS = frozenset({"sign", "verify"})
ENC_OPS = frozenset({"encrypt", "decrypt", "wrapKey", "unwrapKey", "deriveKey", "deriveBits"})

_RSA_ENC = ("RSA1_5", "RSA-OAEP", "RSA-OAEP-256", "RSA-OAEP-384", "RSA-OAEP-512")
_ECDH = ("ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A192KW", "ECDH-ES+A256KW")
_OCT_ENC = (
    "A128KW",
    "A192KW",
    "A256KW",
    "A128GCMKW",
    "A192GCMKW",
    "A256GCMKW",
    "dir",
    "PBES2-HS256+A128KW",
    "PBES2-HS384+A192KW",
    "PBES2-HS512+A256KW",
)

#: Key-management algorithms (RFC 7518 section 4.1) by name, with the key type they need.
ENC_ALGS: dict[str, str] = {
    **dict.fromkeys(_RSA_ENC, "RSA"),
    **dict.fromkeys(_ECDH, "EC|OKP"),
    **dict.fromkeys(_OCT_ENC, "oct"),
}

_ECDH_OKP_CURVES = frozenset({"X25519", "X448"})
_ECDH_EC_CURVES = frozenset({"P-256", "P-384", "P-521"})


def enc_alg_fits(alg: str, kty: str, crv: object) -> bool:
    """Whether key-management algorithm ``alg`` may be used with a ``kty``/``crv`` key."""
    need = ENC_ALGS[alg]
    if need != "EC|OKP":
        return kty == need
    if kty == "EC":
        return crv in _ECDH_EC_CURVES
    return kty == "OKP" and crv in _ECDH_OKP_CURVES


def role_of(use: object, alg: object, ops: object, crv: object) -> str | None:
    """The role a key plays ("sig" or "enc") by use, alg, key_ops or curve; None if untold."""
    if use in ("sig", "enc"):
        return str(use)
    if isinstance(alg, str):
        if alg in ALGORITHMS:
            return "sig"
        if alg in ENC_ALGS:
            return "enc"
    if isinstance(ops, list):
        names = {op for op in ops if isinstance(op, str)}
        if names & SIG_OPS:
            return "sig"
        if names & ENC_OPS:
            return "enc"
    if crv in ("X25519", "X448"):
        return "enc"
    return None
