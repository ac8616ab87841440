"""Named attacks on token verification, each refused with its specific keywell error.

One param id per attack. ``refused`` (attack_helpers) requires the exact error
class (not a parent), any attributes named (``claim=``...), and a message free of
key material. This module: ``alg``, algorithm confusion, key selection, headers
offering keys and signature shapes. Token format (base64url, segments, header
contents, size, encoding) is in ``test_attacks_format.py``, claims in
``test_attacks_claims.py``, keys and key sets in ``test_attacks_keys.py``.
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Callable
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from keywell import (
    JWK,
    AlgorithmError,
    InvalidHeaderError,
    InvalidSignatureError,
    JWKSet,
    KeywellError,
    NoMatchingKeyError,
    UnsupportedAlgorithmError,
    jwt,
)
from keywell.jose.base64url import b64url_encode
from tests.jose.attack_helpers import (
    CLAIMS,
    attacker_key,
    attacker_private,
    b64json,
    decode,
    ec_key,
    ec_private,
    forge,
    hmac_forge,
    hs_key,
    refused,
    registry,
    rsa_key,
    rsa_private,
    signature_of,
    victim_set,
    with_signature,
)

pytestmark = pytest.mark.usefixtures("ed25519_backend")  # both Ed25519 paths

P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
ED25519_L = 2**252 + 27742317777372353535851937790883648493
ATTACKS, attack = registry()


# -- alg: none and unknown names ----------------------------------------------------------

for _name in ("none", "None", "NONE", "nOnE"):
    attack(f"alg-{_name}", UnsupportedAlgorithmError)(
        lambda a=_name: decode(forge({"alg": a}), victim_set())
    )
attack("alg-unknown", UnsupportedAlgorithmError)(
    lambda: decode(forge({"alg": "HS1"}), victim_set())
)
attack("alg-missing", InvalidHeaderError, member="alg")(
    lambda: decode(forge({"typ": "JWT"}), victim_set())
)
attack("alg-not-a-string", InvalidHeaderError, member="alg")(
    lambda: decode(forge({"alg": 256}), victim_set())
)


# -- algorithm confusion: an HMAC keyed with the victim's *public* key ----------------------


@attack("hs256-rsa-public-pem-as-secret", AlgorithmError)
def _() -> object:
    token = hmac_forge({"alg": "HS256", "kid": "rsa"}, rsa_key().to_pem())
    return decode(token, victim_set())


@attack("hs256-rsa-public-jwk-as-secret", AlgorithmError)
def _() -> object:
    public = rsa_key().public()
    return decode(hmac_forge({"alg": "HS256"}, public.to_json().encode()), public)


@attack("hs256-ec-public-pem-as-secret", AlgorithmError)
def _() -> object:
    return decode(hmac_forge({"alg": "HS256", "kid": "ec"}, ec_key().to_pem()), victim_set())


@attack("hs256-ec-public-jwk-as-secret-key-without-alg", AlgorithmError)
def _() -> object:
    unbound = JWK.from_key(ec_private().public_key())  # no alg: only its own kty/crv algs
    return decode(hmac_forge({"alg": "HS256"}, unbound.to_json().encode()), unbound)


# -- alg swapped within a family: even a genuine signature by the right key ---------------


def _ps256_by_victim_key() -> str:
    return jwt.encode(CLAIMS, JWK.from_key(rsa_private(), kid="rsa"), alg="PS256")


def _es384_by_p256_key() -> str:
    """A P-256 signature over SHA-384, labelled ES384 (some libraries verify it)."""
    h, p = b64json({"alg": "ES384", "kid": "ec"}), b64json(CLAIMS)
    r, s = decode_dss_signature(ec_private().sign(f"{h}.{p}".encode(), ec.ECDSA(hashes.SHA384())))
    return f"{h}.{p}.{b64url_encode(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


attack("rs256-to-ps256-key-with-alg", AlgorithmError)(
    lambda: decode(_ps256_by_victim_key(), rsa_key().public())
)
attack("rs256-to-ps256-allow-list", AlgorithmError)(
    lambda: decode(
        _ps256_by_victim_key(), JWK.from_key(rsa_private().public_key()), algorithms=["RS256"]
    )
)
attack("es256-to-es384-key-with-alg", AlgorithmError)(
    lambda: decode(_es384_by_p256_key(), ec_key().public())
)
attack("es256-to-es384-allow-list", AlgorithmError)(
    lambda: decode(
        _es384_by_p256_key(), JWK.from_key(ec_private().public_key()), algorithms=["ES256"]
    )
)
attack("hs256-token-hs512-key", AlgorithmError)(
    lambda: decode(jwt.encode(CLAIMS, hs_key()), JWK.from_secret(bytes(64), alg="HS512"))
)


# -- kid ------------------------------------------------------------------------------------


@attack("kid-names-another-key-in-set", InvalidSignatureError)
def _() -> object:
    other = JWK.from_key(ec.generate_private_key(ec.SECP256R1()).public_key(), alg="ES256", kid="b")
    token = jwt.encode(CLAIMS, ec_key(), {"kid": "b"})  # signed by "ec", claims to be "b"
    return decode(token, JWKSet([ec_key().public(), other]))


attack("kid-names-victim-key-signed-by-attacker", InvalidSignatureError)(
    lambda: decode(forge({"alg": "ES256", "kid": "ec"}, key=attacker_key()), victim_set())
)
attack("kid-names-no-key", NoMatchingKeyError)(
    lambda: decode(forge({"alg": "ES256", "kid": "nobody"}, key=ec_key()), victim_set())
)
attack("kid-not-a-string", InvalidHeaderError, member="kid")(
    lambda: decode(forge({"alg": "ES256", "kid": 7}, key=ec_key()), victim_set())
)


# -- jku, x5u, jwk, x5c offering the attacker's key: never consulted ----------------------


def _x5c() -> list[str]:
    key = attacker_private()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "victim.example")])
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return [base64.b64encode(cert.public_bytes(Encoding.DER)).decode()]


_OFFERS: dict[str, Callable[[], Any]] = {
    "jku": lambda: "https://attacker.example/jwks.json",
    "x5u": lambda: "https://attacker.example/cert.pem",
    "jwk": lambda: attacker_key().to_dict(),
    "x5c": _x5c,
}
for _m, _offer in _OFFERS.items():
    attack(f"{_m}-offers-attacker-key", InvalidSignatureError)(
        lambda m=_m, o=_offer: decode(
            forge({"alg": "ES256", m: o()}, key=attacker_key()), victim_set()
        )
    )
    attack(f"{_m}-offers-attacker-key-with-its-kid", NoMatchingKeyError)(
        lambda m=_m, o=_offer: decode(
            forge({"alg": "ES256", "kid": "attacker", m: o()}, key=attacker_key()), victim_set()
        )
    )


# -- signature shapes -------------------------------------------------------------------------


def _es(r: int | None = None, s: int | None = None, raw: bytes | None = None) -> object:
    """Verify a genuine ES256 token with r and/or s replaced, or its signature replaced."""
    token = jwt.encode(CLAIMS, ec_key())
    sig = signature_of(token)
    r = int.from_bytes(sig[:32], "big") if r is None else r
    s = int.from_bytes(sig[32:], "big") if s is None else s
    new = raw if raw is not None else r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return decode(with_signature(token, new), ec_key().public())


def _es_der() -> object:
    token = jwt.encode(CLAIMS, ec_key())
    der = ec_private().sign(token.rsplit(".", 1)[0].encode(), ec.ECDSA(hashes.SHA256()))
    return decode(with_signature(token, der), ec_key().public())


def _es_padded() -> object:
    sig = signature_of(jwt.encode(CLAIMS, ec_key()))
    return _es(raw=b"\0" + sig[:32] + b"\0" + sig[32:])


def _ed25519_s_plus_l() -> object:
    """RFC 8032 5.1.7: S must be below L; S + L is the classic malleated twin."""
    key = JWK.from_key(ed25519.Ed25519PrivateKey.from_private_bytes(bytes(32)), alg="EdDSA")
    token = jwt.encode(CLAIMS, key)
    sig = signature_of(token)
    s = int.from_bytes(sig[32:], "little") + ED25519_L
    return decode(with_signature(token, sig[:32] + s.to_bytes(32, "little")), key.public())


def _rsa_zero_prefixed() -> object:
    token = jwt.encode(CLAIMS, rsa_key())
    return decode(with_signature(token, b"\0" + signature_of(token)), rsa_key().public())


def _hs_signature(edit: Callable[[bytes], bytes]) -> object:
    token = jwt.encode(CLAIMS, hs_key())
    return decode(with_signature(token, edit(signature_of(token))), hs_key())


attack("ecdsa-r0-s0-psychic-signature", InvalidSignatureError)(lambda: _es(0, 0))
attack("ecdsa-r-zero", InvalidSignatureError)(lambda: _es(r=0))
attack("ecdsa-s-zero", InvalidSignatureError)(lambda: _es(s=0))
attack("ecdsa-r-equals-n", InvalidSignatureError)(lambda: _es(r=P256_N))
attack("ecdsa-s-equals-n", InvalidSignatureError)(lambda: _es(s=P256_N))
attack("ecdsa-der-encoded-signature", InvalidSignatureError)(_es_der)
attack("ecdsa-zero-padded-r-and-s", InvalidSignatureError)(_es_padded)
attack("ecdsa-trailing-octet", InvalidSignatureError)(
    lambda: _es(raw=signature_of(jwt.encode(CLAIMS, ec_key())) + b"\0")
)
attack("ed25519-s-plus-l", InvalidSignatureError)(_ed25519_s_plus_l)
attack("rsa-signature-zero-prefixed", InvalidSignatureError)(_rsa_zero_prefixed)
attack("hmac-truncated-tag", InvalidSignatureError)(lambda: _hs_signature(lambda s: s[:16]))
attack("signature-stripped", InvalidSignatureError)(lambda: _hs_signature(lambda s: b""))


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack(name: str) -> None:
    expected, call, attrs = ATTACKS[name]
    refused(expected, call, **attrs)


def test_every_attack_is_refused_by_the_specific_class() -> None:
    assert len(ATTACKS) >= 40
    assert all(cls is not KeywellError for cls, _, _ in ATTACKS.values())
