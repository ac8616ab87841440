"""PKCS#11 key templates, signing mechanisms and public keys for each JWS algorithm.

One table per concern, keyed by the JWS ``alg`` (RFC 7518 section 3.1):

- generation (PKCS#11 v2.40 sections 2.1.4, 2.3.5; v3.0 section 2.3.5 for
  Edwards curves): the private half is a token object, private, sensitive,
  never extractable, and may only sign (no decrypt, unwrap or derive);
- signing: the mechanism and its parameter, and the hash applied in
  ``cryptography`` first when the mechanism signs a digest (``CKM_ECDSA``);
- the public key read back from the token's attributes as a ``cryptography``
  key object, from which :func:`keywell.custody.base.public_jwk` makes the JWK.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from pkcs11 import MGF, Attribute, KeyType, Mechanism, MechanismFlag

from keywell.custody.base import ec_curve_of
from keywell.jose.algorithms import digest_of

__all__ = ["ALGORITHMS", "keygen", "public_key", "sign_args"]

_RSA_ALGS = frozenset(f"{p}{b}" for p in ("RS", "PS") for b in (256, 384, 512))
_EC_ALGS = frozenset({"ES256", "ES384", "ES512"})
#: What a PKCS#11 custody generates and signs with (EdDSA is Ed25519).
ALGORITHMS: frozenset[str] = _RSA_ALGS | _EC_ALGS | {"EdDSA"}

# DER of the curve OIDs: CKA_EC_PARAMS is an ECParameters namedCurve (RFC 5480 section 2.1.1.1).
_CURVE_OIDS = {
    "ES256": bytes.fromhex("06082a8648ce3d030107"),  # 1.2.840.10045.3.1.7 (P-256)
    "ES384": bytes.fromhex("06052b81040022"),  # 1.3.132.0.34 (P-384)
    "ES512": bytes.fromhex("06052b81040023"),  # 1.3.132.0.35 (P-521)
    "EdDSA": bytes.fromhex("06032b6570"),  # 1.3.101.112 (Ed25519, RFC 8410 section 3)
}
_RSA_MECH = {256: Mechanism.SHA256_RSA_PKCS, 384: Mechanism.SHA384_RSA_PKCS}
_RSA_MECH[512] = Mechanism.SHA512_RSA_PKCS
_PSS_MECH = {256: Mechanism.SHA256_RSA_PKCS_PSS, 384: Mechanism.SHA384_RSA_PKCS_PSS}
_PSS_MECH[512] = Mechanism.SHA512_RSA_PKCS_PSS
_PSS_HASH = {256: (Mechanism.SHA256, MGF.SHA256), 384: (Mechanism.SHA384, MGF.SHA384)}
_PSS_HASH[512] = (Mechanism.SHA512, MGF.SHA512)

_PRIVATE = {
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
    Attribute.SIGN: True,
    Attribute.DECRYPT: False,
    Attribute.UNWRAP: False,
    Attribute.DERIVE: False,
}


def keygen(session: Any, alg: str, ident: bytes, label: str, rsa_bits: int) -> tuple[Any, Any]:
    """Generate a token key pair for ``alg``; returns ``(public, private)`` objects.

    Raises:
        pkcs11.PKCS11Error: the token refused (mechanism, size or template).
    """
    common: dict[str, Any] = {
        "id": ident,
        "label": label,
        "store": True,
        "capabilities": MechanismFlag.SIGN | MechanismFlag.VERIFY,
        "private_template": dict(_PRIVATE),
    }
    if alg in _RSA_ALGS:
        return session.generate_keypair(KeyType.RSA, rsa_bits, **common)  # type: ignore[no-any-return]
    key_type, mechanism = (
        (KeyType.EC_EDWARDS, Mechanism.EC_EDWARDS_KEY_PAIR_GEN)
        if alg == "EdDSA"
        else (KeyType.EC, Mechanism.EC_KEY_PAIR_GEN)
    )
    return session.generate_keypair(  # type: ignore[no-any-return]
        key_type,
        mechanism=mechanism,
        public_template={Attribute.EC_PARAMS: _CURVE_OIDS[alg]},
        **common,
    )


def sign_args(alg: str) -> tuple[Mechanism, Any, hashes.HashAlgorithm | None]:
    """``(mechanism, mechanism parameter, digest to apply first or None)`` for ``alg``."""
    if alg == "EdDSA":
        return Mechanism.EDDSA, None, None
    bits = int(alg[2:])
    if alg.startswith("RS"):
        return _RSA_MECH[bits], None, None
    if alg.startswith("PS"):  # RFC 7518 section 3.5: MGF1 with the same hash, salt = hash size
        hash_mech, mgf = _PSS_HASH[bits]
        return _PSS_MECH[bits], (hash_mech, mgf, digest_of(alg).digest_size), None
    return Mechanism.ECDSA, None, digest_of(alg)


def public_key(obj: Any, alg: str) -> Any:
    """The ``cryptography`` public key of a token public-key object.

    Raises:
        ValueError: the token's attributes do not hold a key of ``alg``'s type.
    """
    if alg in _RSA_ALGS:
        n = int.from_bytes(bytes(obj[Attribute.MODULUS]), "big")
        e = int.from_bytes(bytes(obj[Attribute.PUBLIC_EXPONENT]), "big")
        return rsa.RSAPublicNumbers(e, n).public_key()
    point = _octets(bytes(obj[Attribute.EC_POINT]))
    if alg == "EdDSA":
        return ed25519.Ed25519PublicKey.from_public_bytes(point)
    return ec.EllipticCurvePublicKey.from_encoded_point(ec_curve_of(alg), point)


def _octets(der: bytes) -> bytes:
    """The content of a DER OCTET STRING (``CKA_EC_POINT``, PKCS#11 v2.40 section 2.3.3).

    Raises:
        ValueError: ``der`` is not exactly one OCTET STRING.
    """
    if len(der) < 2 or der[0] != 0x04:
        raise ValueError("CKA_EC_POINT is not a DER OCTET STRING")
    length, start = der[1], 2
    if length & 0x80:
        size = length & 0x7F
        if size not in (1, 2) or len(der) < 2 + size:
            raise ValueError("CKA_EC_POINT has a bad DER length")
        length, start = int.from_bytes(der[2 : 2 + size], "big"), 2 + size
    if len(der) != start + length:
        raise ValueError("CKA_EC_POINT has a bad DER length")
    return der[start:]
