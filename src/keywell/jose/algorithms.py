"""The JWS algorithms keywell implements (RFC 7518 section 3, RFC 8037, RFC 8812, RFC 9864).

Each :class:`Algorithm` says which key type and curve it needs; a key only ever
verifies with the algorithms of its own type (RFC 8725 section 3.1), so an
HMAC computed with an RSA public key as the secret cannot be accepted. ``none``
is not an algorithm here: there is no entry for it and no way to add one.

This module also builds the sign/verify closures that bind one algorithm to
one ``cryptography`` key object, with every constant object built once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from keywell.errors import InvalidSignatureError
from keywell.jose.speedups import libsodium_sign_open, small_order

__all__ = [
    "ALGORITHMS",
    "ASYMMETRIC_ALGORITHMS",
    "Algorithm",
    "SignFn",
    "VerifyFn",
    "digest_of",
    "get_algorithm",
    "make_signer",
    "make_verifier",
]

#: Verifies ``signature`` over ``signing_input``; raises InvalidSignatureError.
VerifyFn = Callable[[bytes, bytes], None]
#: Signs ``signing_input`` and returns the JWS signature octets.
SignFn = Callable[[bytes], bytes]

_HASHES: dict[int, hashes.HashAlgorithm] = {
    256: hashes.SHA256(),
    384: hashes.SHA384(),
    512: hashes.SHA512(),
}


@dataclass(frozen=True, slots=True)
class Algorithm:
    """One JWS ``alg`` value and what it requires of a key."""

    name: str
    family: str  # "RSA", "RSA-PSS", "ECDSA", "EdDSA", "HMAC"
    kty: str
    crv: str | None = None  # the single curve it needs (ECDSA, fully specified EdDSA)
    bits: int = 0  # SHA-2 size; 0 for EdDSA
    curves: frozenset[str] = frozenset()  # EdDSA polymorphic: any of these curves

    def fits(self, kty: str, crv: str | None) -> bool:
        """Whether a key of this ``kty``/``crv`` may use this algorithm."""
        if kty != self.kty:
            return False
        if self.crv is not None:
            return crv == self.crv
        if self.curves:
            return crv in self.curves
        return True


def _table() -> dict[str, Algorithm]:
    algs = []
    for bits in (256, 384, 512):
        algs.append(Algorithm(f"RS{bits}", "RSA", "RSA", bits=bits))
        algs.append(Algorithm(f"PS{bits}", "RSA-PSS", "RSA", bits=bits))
        algs.append(Algorithm(f"HS{bits}", "HMAC", "oct", bits=bits))
    algs += [
        Algorithm("ES256", "ECDSA", "EC", crv="P-256", bits=256),
        Algorithm("ES384", "ECDSA", "EC", crv="P-384", bits=384),
        Algorithm("ES512", "ECDSA", "EC", crv="P-521", bits=512),
        Algorithm("ES256K", "ECDSA", "EC", crv="secp256k1", bits=256),  # RFC 8812
        Algorithm("EdDSA", "EdDSA", "OKP", curves=frozenset({"Ed25519", "Ed448"})),  # RFC 8037
        Algorithm("Ed25519", "EdDSA", "OKP", crv="Ed25519"),  # RFC 9864
        Algorithm("Ed448", "EdDSA", "OKP", crv="Ed448"),  # RFC 9864
    ]
    return {a.name: a for a in algs}


#: Every supported algorithm by name. ``none`` is deliberately absent.
ALGORITHMS: dict[str, Algorithm] = _table()
#: Every supported algorithm except HMAC: what a public JWK Set can verify.
ASYMMETRIC_ALGORITHMS: frozenset[str] = frozenset(
    name for name, a in ALGORITHMS.items() if a.family != "HMAC"
)


def digest_of(alg: str) -> hashes.HashAlgorithm:
    """The SHA-2 hash an RS, PS, ES or HS algorithm signs with (RFC 7518 section 3).

    Raises:
        KeyError: ``alg`` is unknown, or EdDSA (which hashes inside the primitive).
    """
    return _HASHES[ALGORITHMS[alg].bits]


def get_algorithm(name: object) -> Algorithm | None:
    """Return the algorithm called ``name``, or None if keywell does not implement it."""
    if type(name) is not str:
        return None
    return ALGORITHMS.get(name)


def _wrong_key(key: object) -> TypeError:
    return TypeError(f"this algorithm cannot use a {type(key).__name__}")


def _bad() -> InvalidSignatureError:
    return InvalidSignatureError("signature verification failed")


def _rsa_padding(alg: Algorithm) -> tuple[padding.AsymmetricPadding, hashes.HashAlgorithm]:
    """PKCS#1 v1.5, or PSS with MGF1 and a salt as long as the hash (RFC 7518 section 3.5)."""
    h = _HASHES[alg.bits]
    if alg.family == "RSA":
        return padding.PKCS1v15(), h
    return padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), h


def make_verifier(alg: Algorithm, key: object) -> VerifyFn:
    """Bind ``alg`` to a ``cryptography`` public key (or HMAC secret bytes)."""
    family = alg.family
    if family in ("RSA", "RSA-PSS"):
        if not isinstance(key, rsa.RSAPublicKey):
            raise _wrong_key(key)
        pad, h = _rsa_padding(alg)
        size = (key.key_size + 7) // 8
        rsa_verify = key.verify

        def verify_rsa(data: bytes, sig: bytes) -> None:
            if len(sig) != size:
                raise _bad()
            try:
                rsa_verify(sig, data, pad, h)
            except InvalidSignature:
                raise _bad() from None

        return verify_rsa
    if family == "ECDSA":
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise _wrong_key(key)
        sig_alg = ec.ECDSA(_HASHES[alg.bits])
        n = (key.curve.key_size + 7) // 8
        ec_verify = key.verify
        from_bytes = int.from_bytes

        def verify_ec(data: bytes, sig: bytes) -> None:
            # RFC 7518 section 3.4: exactly R || S, each the curve's octet length.
            if len(sig) != 2 * n:
                raise _bad()
            der = encode_dss_signature(from_bytes(sig[:n], "big"), from_bytes(sig[n:], "big"))
            try:
                ec_verify(der, data, sig_alg)
            except InvalidSignature:
                raise _bad() from None

        return verify_ec
    if family == "EdDSA":
        if not isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            raise _wrong_key(key)
        if isinstance(key, ed25519.Ed25519PublicKey):
            return _verify_ed25519(key)
        ed_verify = key.verify

        def verify_ed448(data: bytes, sig: bytes) -> None:
            if len(sig) != 114:
                raise _bad()
            try:
                ed_verify(sig, data)
            except InvalidSignature:
                raise _bad() from None

        return verify_ed448
    if not isinstance(key, bytes):
        raise _wrong_key(key)
    # One keyed HMAC context built here; each call works on a copy of it.
    h = _HASHES[alg.bits]
    base = hmac.HMAC(key, h)
    size = h.digest_size

    def verify_hmac(data: bytes, sig: bytes) -> None:
        if len(sig) != size:
            raise _bad()
        ctx = base.copy()
        ctx.update(data)
        try:
            ctx.verify(sig)  # constant-time comparison inside cryptography
        except InvalidSignature:
            raise _bad() from None

    return verify_hmac


def _verify_ed25519(key: ed25519.Ed25519PublicKey) -> VerifyFn:
    """Ed25519 through libsodium when chosen (:mod:`keywell.jose.speedups`), else OpenSSL.

    Both refuse a small-order ``R`` (libsodium does it itself); the key was
    checked when its JWK was parsed.
    """
    raw = key.public_bytes_raw()
    ed_verify = key.verify

    def verify_ed25519(data: bytes, sig: bytes) -> None:
        if len(sig) != 64:
            raise _bad()
        sodium = libsodium_sign_open()
        if sodium is not None:
            sign_open, failure = sodium
            try:
                sign_open(sig + data, raw)
            except failure:
                raise _bad() from None
            return
        if small_order(sig[:32]):
            raise _bad()
        try:
            ed_verify(sig, data)
        except InvalidSignature:
            raise _bad() from None

    return verify_ed25519


def make_signer(alg: Algorithm, key: object) -> SignFn:
    """Bind ``alg`` to a ``cryptography`` private key (or HMAC secret bytes)."""
    family = alg.family
    if family in ("RSA", "RSA-PSS"):
        if not isinstance(key, rsa.RSAPrivateKey):
            raise _wrong_key(key)
        pad, h = _rsa_padding(alg)
        rsa_sign = key.sign
        return lambda data: rsa_sign(data, pad, h)
    if family == "ECDSA":
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise _wrong_key(key)
        sig_alg = ec.ECDSA(_HASHES[alg.bits])
        n = (key.curve.key_size + 7) // 8
        ec_sign = key.sign

        def sign_ec(data: bytes) -> bytes:
            r, s = decode_dss_signature(ec_sign(data, sig_alg))
            return r.to_bytes(n, "big") + s.to_bytes(n, "big")

        return sign_ec
    if family == "EdDSA":
        if not isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
            raise _wrong_key(key)
        ed_sign: SignFn = key.sign
        return ed_sign
    if not isinstance(key, bytes):
        raise _wrong_key(key)
    base = hmac.HMAC(key, _HASHES[alg.bits])

    def sign_hmac(data: bytes) -> bytes:
        ctx = base.copy()
        ctx.update(data)
        return ctx.finalize()

    return sign_hmac
