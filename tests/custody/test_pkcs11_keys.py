"""Reading a token's public-key attributes (``custody/pkcs11_keys.py``), malformed ones too."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st
from pkcs11 import Attribute

from keywell.custody.base import ec_curve_of
from keywell.custody.pkcs11_keys import ALGORITHMS, public_key, sign_args


def _der_octets(content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([0x04, size]) + content
    return bytes([0x04, 0x81, size]) + content if size < 0x100 else b""


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512"])
def test_ec_point_in_der(alg: str) -> None:
    key = ec.generate_private_key(ec_curve_of(alg)).public_key()
    point = key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    assert public_key({Attribute.EC_POINT: _der_octets(point)}, alg) == key


def test_ed25519_point_and_rsa_numbers() -> None:
    ed = ed25519.Ed25519PrivateKey.generate().public_key()
    raw = ed.public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert public_key({Attribute.EC_POINT: _der_octets(raw)}, "EdDSA") == ed
    pub = rsa.generate_private_key(65537, 2048).public_key()
    numbers = pub.public_numbers()
    attrs = {
        Attribute.MODULUS: numbers.n.to_bytes(256, "big"),
        Attribute.PUBLIC_EXPONENT: b"\x01\x00\x01",
    }
    assert public_key(attrs, "RS256") == pub


_P256 = (
    ec.generate_private_key(ec.SECP256R1())
    .public_key()
    .public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
)
MALFORMED = {
    "empty": b"",
    "raw point, no DER": _P256,
    "wrong tag": b"\x03" + _der_octets(_P256)[1:],
    "length too long": b"\x04\x42" + _P256,
    "length too short": b"\x04\x40" + _P256,
    "trailing byte": _der_octets(_P256) + b"\x00",
    "long form without length": b"\x04\x81",
    "long form of 3 bytes": b"\x04\x83\x00\x00\x41" + _P256,
    "indefinite length": b"\x04\x80" + _P256,
    "point not on the curve": _der_octets(b"\x04" + b"\x01" * 64),
    "compressed point of the wrong size": _der_octets(b"\x02" + b"\x01" * 20),
    "P-521 point for P-256": _der_octets(
        ec.generate_private_key(ec.SECP521R1())
        .public_key()
        .public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    ),
}


@pytest.mark.parametrize("point", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_ec_points_are_refused(point: bytes) -> None:
    with pytest.raises(ValueError, match=r"."):
        public_key({Attribute.EC_POINT: point}, "ES256")


@given(st.binary(max_size=200))
def test_any_bytes_are_a_key_or_a_value_error(point: bytes) -> None:
    for alg, kind in (("ES256", ec.EllipticCurvePublicKey), ("EdDSA", ed25519.Ed25519PublicKey)):
        try:
            key = public_key({Attribute.EC_POINT: point}, alg)
        except ValueError:
            continue
        assert isinstance(key, kind)


@pytest.mark.parametrize("alg", sorted(ALGORITHMS))
def test_every_algorithm_has_a_signing_mechanism(alg: str) -> None:
    mechanism, param, digest = sign_args(alg)
    if alg.startswith("PS"):  # RFC 7518 section 3.5: salt as long as the hash
        assert param[2] == int(alg[2:]) // 8
    if alg.startswith("ES"):
        assert digest is not None
        assert digest.digest_size == int(alg[2:]) // 8
    else:
        assert digest is None
    assert mechanism is not None
