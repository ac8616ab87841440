"""JWK members to ``cryptography`` key objects, validated (RFC 7517, 7518 s6, 8037 s2).

Where we are liberal, and why (each keeps the key unambiguous):

- RSA ``n``/``e`` with leading zero octets (RFC 7518 6.3.1.1 says minimal,
  yet large providers have published such moduli): the integer is the same,
  so we accept it and record the quirk in ``quirks`` for the linter.
- Unknown members are kept aside and never used.

Where we are strict, and why (each guards safety):

- EC coordinates and private scalars must be exactly the curve's length
  (RFC 7518 6.2.1.2): a short or long coordinate is how invalid-curve and
  parsing-differential attacks start.
- The point must lie on the curve; the private half must match the public one.
- RSA moduli under 2048 bits are refused unless ``allow_weak_rsa`` is set;
  the exponent must be odd, at least 3 and at most 256 bits; a modulus with
  the ROCA fingerprint (CVE-2017-15361) is refused, as it can be factored.
- Multi-prime RSA (``oth``) is not supported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x448, x25519

from keywell.errors import InvalidKeyError, KeyNotSupportedError
from keywell.jose.base64url import b64url_decode
from keywell.jose.speedups import ed25519_key_problem

__all__ = ["CURVES", "OKP_CURVES", "ParsedKey", "parse_key_members"]

#: EC curves by JWK ``crv`` name, with their coordinate length in octets.
CURVES: dict[str, tuple[ec.EllipticCurve, int]] = {
    "P-256": (ec.SECP256R1(), 32),
    "P-384": (ec.SECP384R1(), 48),
    "P-521": (ec.SECP521R1(), 66),
    "secp256k1": (ec.SECP256K1(), 32),
}
#: OKP curves by ``crv`` name: key length in octets, and whether it signs.
OKP_CURVES: dict[str, tuple[int, bool]] = {
    "Ed25519": (32, True),
    "Ed448": (57, True),
    "X25519": (32, False),
    "X448": (56, False),
}
MIN_RSA_BITS = 2048

_RSA_PRIVATE = ("d", "p", "q", "dp", "dq", "qi")


def _roca_subgroups() -> tuple[tuple[int, frozenset[int]], ...]:
    """For each small prime p, the residues mod p that 65537 generates."""
    primes: tuple[int, ...] = (3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59)
    primes += (61, 67, 71, 73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137)
    out = []
    for p in (*primes, 139, 149, 151, 157, 163, 167):
        seen: set[int] = set()
        x = 1
        while (x := x * 65537 % p) not in seen:
            seen.add(x)
        out.append((p, frozenset(seen)))
    return tuple(out)


# ROCA (CVE-2017-15361, Nemec et al., CCS 2017): moduli from the flawed
# Infineon generator are 65537-power residues modulo every small prime; a
# random modulus passes all of these tests with probability about 4e-9.
_ROCA = _roca_subgroups()


def _is_roca(n: int) -> bool:
    return all(n % p in residues for p, residues in _ROCA)


@dataclass(slots=True)
class ParsedKey:
    """The result of parsing one JWK's key members."""

    public: Any  # a cryptography public key, or None for oct
    private: Any  # a cryptography private key, the oct secret bytes, or None
    params: dict[str, str]  # the public key members, canonical (RFC 7638 order)
    private_params: dict[str, str]  # the private members as given
    quirks: list[str] = field(default_factory=list)


def _member(d: Mapping[str, Any], name: str, kty: str) -> str:
    value = d.get(name)
    if value is None:
        raise InvalidKeyError(f'{kty} key is missing required member "{name}"')
    if not isinstance(value, str):
        raise InvalidKeyError(f'member "{name}" must be a base64url string')
    return value


def _octets(d: Mapping[str, Any], name: str, kty: str) -> bytes:
    value = _member(d, name, kty)
    try:
        return b64url_decode(value)
    except ValueError as exc:
        raise InvalidKeyError(f'member "{name}" is not valid base64url: {exc}') from None


def _uint(d: Mapping[str, Any], name: str, quirks: list[str]) -> int:
    raw = _octets(d, name, "RSA")
    if not raw:
        raise InvalidKeyError(f'member "{name}" is empty')
    if raw[0] == 0:
        quirks.append(f"{name}: leading zero octet")
    return int.from_bytes(raw, "big")


def _parse_rsa(d: Mapping[str, Any], allow_weak_rsa: bool) -> ParsedKey:
    quirks: list[str] = []
    n = _uint(d, "n", quirks)
    e = _uint(d, "e", quirks)
    if "oth" in d:
        raise KeyNotSupportedError("multi-prime RSA keys (oth) are not supported")
    if e < 3 or e % 2 == 0 or e.bit_length() > 256:
        raise InvalidKeyError("RSA public exponent must be odd, at least 3 and at most 256 bits")
    if n.bit_length() < MIN_RSA_BITS:
        if not allow_weak_rsa:
            raise InvalidKeyError(
                f"RSA modulus of {n.bit_length()} bits is under the {MIN_RSA_BITS}-bit minimum; "
                "pass allow_weak_rsa=True to verify legacy tokens"
            )
        if n.bit_length() < 512:
            raise InvalidKeyError("RSA modulus is far too small")
        quirks.append(f"weak RSA modulus of {n.bit_length()} bits")
    if _is_roca(n):
        raise InvalidKeyError("RSA modulus has the ROCA fingerprint (CVE-2017-15361)")
    try:
        public_numbers = rsa.RSAPublicNumbers(e, n)
        public = public_numbers.public_key()
    except ValueError:
        raise InvalidKeyError("RSA public key is invalid") from None
    given = [name for name in _RSA_PRIVATE if name in d]
    private = None
    private_params: dict[str, str] = {}
    if given:
        if "d" not in given:
            raise InvalidKeyError('RSA private key is missing "d"')
        crt = [name for name in _RSA_PRIVATE[1:] if name in d]
        if crt and len(crt) != 5:
            raise InvalidKeyError("RSA private key must give all of p, q, dp, dq, qi or none")
        try:
            priv_d = _uint(d, "d", [])
            if crt:
                p, q, dp, dq, qi = (_uint(d, name, []) for name in _RSA_PRIVATE[1:])
            else:
                p, q = rsa.rsa_recover_prime_factors(n, e, priv_d)
                dp, dq = rsa.rsa_crt_dmp1(priv_d, p), rsa.rsa_crt_dmq1(priv_d, q)
                qi = rsa.rsa_crt_iqmp(p, q)
            numbers = rsa.RSAPrivateNumbers(p, q, priv_d, dp, dq, qi, public_numbers)
            private = numbers.private_key()
        except (ValueError, ArithmeticError):
            raise InvalidKeyError("RSA private members do not match the public key") from None
        private_params = {name: d[name] for name in given}
    params = {"e": d["e"], "kty": "RSA", "n": d["n"]}
    return ParsedKey(public, private, params, private_params, quirks)


def _parse_ec(d: Mapping[str, Any], crv: str) -> ParsedKey:
    curve, size = CURVES[crv]
    x_raw, y_raw = _octets(d, "x", "EC"), _octets(d, "y", "EC")
    if len(x_raw) != size or len(y_raw) != size:
        raise InvalidKeyError(f"EC coordinates must be exactly {size} octets for {crv}")
    x, y = int.from_bytes(x_raw, "big"), int.from_bytes(y_raw, "big")
    try:
        public = ec.EllipticCurvePublicNumbers(x, y, curve).public_key()
    except ValueError:
        raise InvalidKeyError(f"EC point is not on the {crv} curve") from None
    private = None
    private_params: dict[str, str] = {}
    if "d" in d:
        d_raw = _octets(d, "d", "EC")
        if len(d_raw) != size:
            raise InvalidKeyError(f"EC private scalar must be exactly {size} octets for {crv}")
        try:
            private = ec.derive_private_key(int.from_bytes(d_raw, "big"), curve)
        except ValueError:
            raise InvalidKeyError("EC private scalar is out of range") from None
        if private.public_key().public_numbers() != public.public_numbers():
            raise InvalidKeyError("EC private scalar does not match the public point")
        private_params = {"d": d["d"]}
    params = {"crv": crv, "kty": "EC", "x": d["x"], "y": d["y"]}
    return ParsedKey(public, private, params, private_params)


_OKP_TYPES: dict[str, tuple[Any, Any]] = {
    "Ed25519": (ed25519.Ed25519PublicKey, ed25519.Ed25519PrivateKey),
    "Ed448": (ed448.Ed448PublicKey, ed448.Ed448PrivateKey),
    "X25519": (x25519.X25519PublicKey, x25519.X25519PrivateKey),
    "X448": (x448.X448PublicKey, x448.X448PrivateKey),
}


def _parse_okp(d: Mapping[str, Any], crv: str) -> ParsedKey:
    size, _signs = OKP_CURVES[crv]
    pub_type, priv_type = _OKP_TYPES[crv]
    x_raw = _octets(d, "x", "OKP")
    if len(x_raw) != size:
        raise InvalidKeyError(f"OKP public key must be exactly {size} octets for {crv}")
    try:
        public = pub_type.from_public_bytes(x_raw)
    except ValueError:
        raise InvalidKeyError(f"{crv} public key is invalid") from None
    if crv == "Ed25519":  # what libsodium refuses, refused on every path
        problem = ed25519_key_problem(x_raw)
        if problem is not None:
            raise InvalidKeyError(f"Ed25519 public key {problem}")
    private = None
    private_params: dict[str, str] = {}
    if "d" in d:
        d_raw = _octets(d, "d", "OKP")
        if len(d_raw) != size:
            raise InvalidKeyError(f"OKP private key must be exactly {size} octets for {crv}")
        try:
            private = priv_type.from_private_bytes(d_raw)
        except ValueError:
            raise InvalidKeyError(f"{crv} private key is invalid") from None
        if private.public_key().public_bytes_raw() != x_raw:
            raise InvalidKeyError("OKP private key does not match the public key")
        private_params = {"d": d["d"]}
    params = {"crv": crv, "kty": "OKP", "x": d["x"]}
    return ParsedKey(public, private, params, private_params)


def _parse_oct(d: Mapping[str, Any]) -> ParsedKey:
    k = _octets(d, "k", "oct")
    if not k:
        raise InvalidKeyError("symmetric key is empty")
    return ParsedKey(None, k, {"k": d["k"], "kty": "oct"}, {"k": d["k"]})


def parse_key_members(d: Mapping[str, Any], *, allow_weak_rsa: bool = False) -> ParsedKey:
    """Validate the key members of JWK ``d`` and build its key objects.

    Raises:
        KeyNotSupportedError: an unknown ``kty`` or ``crv``.
        InvalidKeyError: anything else wrong with the key members.
    """
    kty = d.get("kty")
    if not isinstance(kty, str):
        raise InvalidKeyError('JWK member "kty" is missing or not a string')
    if kty == "RSA":
        return _parse_rsa(d, allow_weak_rsa)
    if kty == "oct":
        return _parse_oct(d)
    if kty not in ("EC", "OKP"):
        raise KeyNotSupportedError(f"unsupported key type {kty!r}")
    crv = d.get("crv")
    if not isinstance(crv, str):
        raise InvalidKeyError(f'{kty} key is missing required member "crv"')
    if kty == "EC":
        if crv not in CURVES:
            raise KeyNotSupportedError(f"unsupported EC curve {crv!r}")
        return _parse_ec(d, crv)
    if crv not in OKP_CURVES:
        raise KeyNotSupportedError(f"unsupported OKP curve {crv!r}")
    return _parse_okp(d, crv)
