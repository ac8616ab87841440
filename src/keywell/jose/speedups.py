"""Faster primitives from maintained libraries, used when installed (``keywell[speedups]``).

Measured on the benchmark machine (``bench/RESULTS.md``), only one primitive
wins over OpenSSL through ``cryptography``: Ed25519 verification with
libsodium (PyNaCl), about 1.9x faster. HMAC through ``cryptography`` (a keyed
context copied per call) already beats the standard library's
``hmac.digest``; no maintained library beats OpenSSL for RSA or ECDSA here.

The two Ed25519 paths give identical verdicts. libsodium refuses what
OpenSSL accepts in three places (RFC 8032 section 5.1.7 leaves them to the
verifier): a small-order public key, a small-order ``R`` and a
non-canonically encoded public key. keywell refuses all three on both paths:
the key when a JWK is parsed (:func:`ed25519_key_problem`), ``R`` before
OpenSSL sees the signature (:func:`small_order`). Both refuse a
non-canonical ``S`` (``S >= L``) and compare ``R`` by its bytes. The
Wycheproof and attack suites run against both paths (tests/jose).

:func:`use_ed25519` chooses the path, at once for every key: ``"auto"``
(libsodium when PyNaCl is importable, the default), ``"libsodium"`` or ``"openssl"``.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = [
    "ED25519_BACKENDS",
    "ed25519_backend",
    "ed25519_key_problem",
    "libsodium_sign_open",
    "small_order",
    "use_ed25519",
]

#: The Ed25519 verification paths :func:`use_ed25519` accepts.
ED25519_BACKENDS = ("auto", "libsodium", "openssl")

_P = 2**255 - 19
# The encodings of the points of small order, with the sign bit cleared (the
# list libsodium's ge25519_has_small_order checks; p-1, p and p+1 are the
# y = -1, 0 and 1 points written with y >= p or y = p - 1).
_SMALL_ORDER = frozenset(
    {
        bytes(32),
        (1).to_bytes(32, "little"),
        bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
        bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
        (_P - 1).to_bytes(32, "little"),
        _P.to_bytes(32, "little"),
        (_P + 1).to_bytes(32, "little"),
    }
)

_Nacl = tuple[Callable[[bytes, bytes], bytes], type[Exception]]
_nacl: list[_Nacl | None] = []  # loaded on first use: importing PyNaCl costs start-up time


def _load_nacl() -> _Nacl | None:
    if not _nacl:
        try:
            from nacl.bindings import crypto_sign_open
            from nacl.exceptions import BadSignatureError
        except ImportError:  # pragma: no cover - exercised where PyNaCl is absent
            _nacl.append(None)
        else:
            _nacl.append((crypto_sign_open, BadSignatureError))
    return _nacl[0]


_choice = "auto"


def small_order(point: bytes) -> bool:
    """Whether a 32-octet Ed25519 point encoding is one of a small-order point (either sign)."""
    return point[:31] + bytes((point[31] & 0x7F,)) in _SMALL_ORDER


def ed25519_key_problem(public: bytes) -> str | None:
    """Why a raw Ed25519 public key is refused, or None (RFC 8032 section 5.1.3)."""
    if int.from_bytes(public, "little") & ((1 << 255) - 1) >= _P:
        return "is not canonically encoded (y >= p)"
    if small_order(public):
        return "is a point of small order"
    return None


def use_ed25519(backend: str) -> None:
    """Choose the Ed25519 verification path from now on (every key, every verifier).

    Raises:
        ValueError: an unknown name, or ``"libsodium"`` without PyNaCl installed.
    """
    global _choice
    if backend not in ED25519_BACKENDS:
        raise ValueError(f"Ed25519 backend must be one of {ED25519_BACKENDS}")
    if backend == "libsodium" and _load_nacl() is None:
        raise ValueError("the libsodium backend needs PyNaCl (pip install keywell[speedups])")
    _choice = backend


def ed25519_backend() -> str:
    """The path Ed25519 verifications take now: ``"libsodium"`` or ``"openssl"``."""
    if _choice == "openssl" or _load_nacl() is None:
        return "openssl"
    return "libsodium"


def libsodium_sign_open() -> tuple[Callable[[bytes, bytes], bytes], type[Exception]] | None:
    """Libsodium's ``crypto_sign_open`` and its failure type, if that path is chosen now.

    Read on every Ed25519 verification, so :func:`use_ed25519` applies at once.
    """
    if _choice == "openssl":
        return None
    return _nacl[0] if _nacl else _load_nacl()
