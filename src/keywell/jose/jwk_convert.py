"""Between ``cryptography`` key objects, JWK members (RFC 7518 s6, RFC 8037 s2) and PEM/DER."""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x448, x25519

from keywell.errors import InvalidKeyError, KeyNotSupportedError
from keywell.jose.base64url import b64url_encode, int_to_b64
from keywell.jose.jwk_parse import CURVES

__all__ = ["key_to_members", "load_der", "load_pem", "private_to_bytes", "public_to_bytes"]

_CURVE_NAMES = {type(curve).__name__: name for name, (curve, _) in CURVES.items()}
_OKP = (
    (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey, "Ed25519"),
    (ed448.Ed448PrivateKey, ed448.Ed448PublicKey, "Ed448"),
    (x25519.X25519PrivateKey, x25519.X25519PublicKey, "X25519"),
    (x448.X448PrivateKey, x448.X448PublicKey, "X448"),
)


def key_to_members(key: Any) -> dict[str, str]:
    """Return the JWK members (private ones too, if ``key`` is private) of a key object."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        pub = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
        pn = pub.public_numbers()
        out = {"kty": "RSA", "n": int_to_b64(pn.n), "e": int_to_b64(pn.e)}
        if isinstance(key, rsa.RSAPrivateKey):
            v = key.private_numbers()
            out.update(
                d=int_to_b64(v.d),
                p=int_to_b64(v.p),
                q=int_to_b64(v.q),
                dp=int_to_b64(v.dmp1),
                dq=int_to_b64(v.dmq1),
                qi=int_to_b64(v.iqmp),
            )
        return out
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        crv = _CURVE_NAMES.get(type(key.curve).__name__)
        if crv is None:
            raise KeyNotSupportedError(f"unsupported EC curve {key.curve.name}")
        size = CURVES[crv][1]
        pub_ec = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
        en = pub_ec.public_numbers()
        out = {"kty": "EC", "crv": crv, "x": int_to_b64(en.x, size), "y": int_to_b64(en.y, size)}
        if isinstance(key, ec.EllipticCurvePrivateKey):
            out["d"] = int_to_b64(key.private_numbers().private_value, size)
        return out
    for priv_type, pub_type, crv in _OKP:
        if isinstance(key, priv_type):
            return {
                "kty": "OKP",
                "crv": crv,
                "x": b64url_encode(key.public_key().public_bytes_raw()),
                "d": b64url_encode(key.private_bytes_raw()),
            }
        if isinstance(key, pub_type):
            return {"kty": "OKP", "crv": crv, "x": b64url_encode(key.public_bytes_raw())}
    raise KeyNotSupportedError(f"unsupported key object {type(key).__name__}")


def _load(data: bytes, password: bytes | None, pem: bool) -> Any:
    load_private = serialization.load_pem_private_key if pem else serialization.load_der_private_key
    load_public = serialization.load_pem_public_key if pem else serialization.load_der_public_key
    load_cert = x509.load_pem_x509_certificate if pem else x509.load_der_x509_certificate
    if pem and b"-----BEGIN CERTIFICATE-----" in data:
        try:
            return load_cert(data).public_key()
        except (ValueError, UnsupportedAlgorithm):
            raise InvalidKeyError("not a valid PEM certificate") from None
    try:
        return load_private(data, password)
    except TypeError:
        if password is None:
            raise InvalidKeyError("the private key is encrypted: a password is needed") from None
        raise InvalidKeyError("a password was given but the private key is not encrypted") from None
    except (ValueError, UnsupportedAlgorithm):
        pass
    try:
        return load_public(data)
    except (ValueError, UnsupportedAlgorithm):
        pass
    try:
        return load_cert(data).public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise InvalidKeyError(f"not a {'PEM' if pem else 'DER'} key or certificate") from None


def load_pem(data: bytes, password: bytes | None = None) -> Any:
    """Load a PEM private key, public key or certificate's public key."""
    return _load(data, password, pem=True)


def load_der(data: bytes, password: bytes | None = None) -> Any:
    """Load a DER private key, public key or certificate's public key."""
    return _load(data, password, pem=False)


def public_to_bytes(key: Any, encoding: serialization.Encoding) -> bytes:
    """Export a public key as SubjectPublicKeyInfo in ``encoding``."""
    return bytes(key.public_bytes(encoding, serialization.PublicFormat.SubjectPublicKeyInfo))


def private_to_bytes(
    key: Any, encoding: serialization.Encoding, password: bytes | None = None
) -> bytes:
    """Export a private key as PKCS#8 in ``encoding``, encrypted when ``password`` is given."""
    algorithm: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return bytes(key.private_bytes(encoding, serialization.PrivateFormat.PKCS8, algorithm))
