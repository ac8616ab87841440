"""JWK metadata rules: ``use``, ``key_ops`` and ``alg`` vs each other and the key (RFC 7517 s4).

- ``use`` and ``key_ops`` "SHOULD NOT be used together"; when both are
  present they must agree (section 4.3), else the key is refused.
- ``key_ops`` values must not repeat (section 4.3).
- A registered signature ``alg`` must fit the key's type and curve
  (RFC 8725 section 3.1), must not sit on a ``use: enc`` key, and an HMAC key
  must be at least as long as the hash (RFC 7518 section 3.2).
- X25519/X448 keys agree on keys; they never sign or verify.
- An unregistered ``alg`` (``ES521``, ``RSA-OAEP``…) is kept, but the key
  then verifies and signs nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from keywell.errors import InvalidKeyError
from keywell.jose.algorithms import ALGORITHMS, Algorithm
from keywell.jose.jwk_convert import load_der
from keywell.jose.jwk_parse import OKP_CURVES

__all__ = [
    "check_metadata",
    "default_alg",
    "key_ops_of",
    "looks_like_key",
    "meta_str",
    "usable_algs",
]

_SIG_OPS = frozenset({"sign", "verify"})
_ENC_OPS = frozenset({"encrypt", "decrypt", "wrapKey", "unwrapKey", "deriveKey", "deriveBits"})
_MAX_META = 4096  # longest kid/alg/use string we accept


def meta_str(d: Mapping[str, Any], name: str) -> str | None:
    """A string metadata member (kid, alg, use), or None when absent (``null`` is not absent)."""
    if name not in d:
        return None
    value = d[name]
    if not isinstance(value, str) or len(value) > _MAX_META:
        raise InvalidKeyError(f'JWK member "{name}" must be a string')
    return value


def key_ops_of(d: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The ``key_ops`` member as a tuple, or None when absent (``null`` is not absent)."""
    if "key_ops" not in d:
        return None
    ops = d["key_ops"]
    if not isinstance(ops, list) or not all(isinstance(op, str) for op in ops):
        raise InvalidKeyError('JWK member "key_ops" must be an array of strings')
    if len(set(ops)) != len(ops):
        raise InvalidKeyError('JWK member "key_ops" repeats a value (RFC 7517 section 4.3)')
    return tuple(ops)


def _long_enough(kty: str, secret_len: int | None, alg: Algorithm) -> bool:
    """Whether an oct key is at least as long as ``alg``'s hash (RFC 7518 section 3.2)."""
    return kty != "oct" or (secret_len or 0) * 8 >= alg.bits


def check_metadata(
    kty: str,
    crv: str | None,
    alg_name: str | None,
    use: str | None,
    key_ops: tuple[str, ...] | None,
    secret_len: int | None,
) -> None:
    """Refuse a key whose metadata contradicts itself or the key; see the module docstring."""
    if use is not None and key_ops is not None:
        allowed = _SIG_OPS if use == "sig" else _ENC_OPS if use == "enc" else None
        if allowed is not None and not set(key_ops) <= allowed:
            raise InvalidKeyError('JWK "use" and "key_ops" contradict each other')
    alg = ALGORITHMS.get(alg_name) if alg_name is not None else None
    if alg is not None:
        if not alg.fits(kty, crv):
            where = f" on {crv}" if crv else ""
            raise InvalidKeyError(f"alg {alg_name} does not fit a {kty} key{where}")
        if use == "enc":
            raise InvalidKeyError(f'a signature alg {alg_name} on a "use": "enc" key')
        if not _long_enough(kty, secret_len, alg):
            raise InvalidKeyError(f"{alg_name} needs a key of at least {alg.bits // 8} bytes")
    if (
        kty == "OKP"
        and not OKP_CURVES[crv or ""][1]
        and (use == "sig" or (key_ops and set(key_ops) & _SIG_OPS))
    ):
        raise InvalidKeyError(f"{crv} is a key-agreement curve; it cannot sign")


def usable_algs(
    op: str,
    kty: str,
    crv: str | None,
    alg: str | None,
    use: str | None,
    key_ops: tuple[str, ...] | None,
    secret_len: int | None,
) -> frozenset[str]:
    """The algorithms a key may ``op`` (``"sign"`` or ``"verify"``) with."""
    if use not in (None, "sig"):
        return frozenset()
    if key_ops is not None and op not in key_ops:
        return frozenset()
    if alg is not None:
        return frozenset({alg}) if alg in ALGORITHMS else frozenset()
    return frozenset(
        n for n, a in ALGORITHMS.items() if a.fits(kty, crv) and _long_enough(kty, secret_len, a)
    )


def default_alg(kty: str, crv: str | None) -> str:
    """The algorithm a key without ``alg`` signs with by default."""
    if kty == "RSA":
        return "RS256"
    if kty == "oct":
        return "HS256"
    if kty == "OKP":
        return "EdDSA"
    for name, a in ALGORITHMS.items():
        if a.kty == "EC" and a.crv == crv:
            return name
    raise InvalidKeyError("no default algorithm for this key")


_KEY_TEXT_PREFIXES = (b"-----BEGIN", b"ssh-", b"ecdsa-sha2-", b"sk-ssh-", b"sk-ecdsa-")


def looks_like_key(secret: bytes) -> bool:
    """Whether ``secret`` is (not merely starts like) a PEM/OpenSSH/DER key, certificate or JWK."""
    head = secret.lstrip()
    if head.startswith(_KEY_TEXT_PREFIXES):
        return True
    if head.startswith(b"{"):
        try:
            return isinstance(json.loads(secret), dict)
        except ValueError:
            return False
    if secret[:1] == b"\x30":
        try:
            load_der(secret)
        except InvalidKeyError:
            return False
        return True
    return False
