"""Named attacks through keys and key sets, and the rule that no error or repr leaks a secret.

Keys that must not exist are refused when built (``InvalidKeyError``), sets that
publish secrets are refused whole (``JWKSError``), and keys that exist but may
not verify a token refuse it (``AlgorithmError``/``NoMatchingKeyError``).
"""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric import rsa, x25519

from keywell import (
    JWK,
    AlgorithmError,
    InvalidKeyError,
    JWKSError,
    JWKSet,
    KeywellError,
    NoMatchingKeyError,
    SkippedKeyError,
    Verifier,
    WeakKeyWarning,
    jwt,
)
from keywell.jose.base64url import b64url_encode
from tests.jose.attack_helpers import (
    AUD,
    CLAIMS,
    HS_SECRET,
    ISS,
    NOW,
    assert_no_secret,
    decode,
    ec_key,
    ec_private,
    hs_key,
    refused,
    registry,
    rsa_key,
    rsa_private,
    victim_set,
)

pytestmark = pytest.mark.usefixtures("ed25519_backend")  # both Ed25519 paths

ATTACKS, attack = registry()


def _with(base: JWK, *, private: bool = False, drop: tuple[str, ...] = (), **members: Any) -> Any:
    out = {k: v for k, v in base.to_dict(private=private).items() if k not in drop}
    out.update(members)
    return out


@pytest.fixture(scope="module")
def weak_rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (the point)


# -- an asymmetric key, a certificate or a JWK handed over as an HMAC secret ------------------

_PUB = ser.PublicFormat.SubjectPublicKeyInfo
_SECRETS = {
    "rsa-public-pem": lambda: rsa_key().to_pem(),
    "ec-public-pem": lambda: ec_key().to_pem(),
    "rsa-private-pem": lambda: rsa_key().to_pem(private=True),
    "rsa-public-jwk-json": lambda: rsa_key().public().to_json().encode(),
    "ec-public-jwk-json": lambda: ec_key().public().to_json().encode(),
    "jwk-json-after-whitespace": lambda: b"\n  " + ec_key().public().to_json().encode(),
    "rsa-public-der": lambda: rsa_key().to_der(),
    "ec-public-der": lambda: ec_key().to_der(),
    "openssh-rsa-public": lambda: (
        rsa_private().public_key().public_bytes(ser.Encoding.OpenSSH, ser.PublicFormat.OpenSSH)
    ),
    "openssh-ecdsa-public": lambda: (
        ec_private().public_key().public_bytes(ser.Encoding.OpenSSH, ser.PublicFormat.OpenSSH)
    ),
}
for _name, _make in _SECRETS.items():
    attack(f"from-secret-refuses-{_name}", InvalidKeyError)(
        lambda m=_make: JWK.from_secret(m(), alg="HS256")
    )


# -- keys that must not be built ---------------------------------------------------------------


def _off_curve() -> dict[str, Any]:
    """The victim's public point with y moved by one: no longer on P-256."""
    members = ec_key().to_dict()
    y = ec_private().public_key().public_numbers().y
    return {**members, "y": b64url_encode(((y + 1) % 2**256).to_bytes(32, "big"))}


attack("ec-point-not-on-curve", InvalidKeyError)(lambda: JWK.from_dict(_off_curve()))
attack("ec-point-at-origin", InvalidKeyError)(
    lambda: JWK.from_dict(_with(ec_key(), x=b64url_encode(bytes(32)), y=b64url_encode(bytes(32))))
)
attack("ec-coordinate-short", InvalidKeyError)(
    lambda: JWK.from_dict(_with(ec_key(), x=b64url_encode(bytes(31) + b"\1")))
)
attack("ec-coordinate-long", InvalidKeyError)(
    lambda: JWK.from_dict(_with(ec_key(), x=b64url_encode(bytes(33))))
)
attack("ec-private-scalar-of-another-key", InvalidKeyError)(
    lambda: JWK.from_dict(_with(ec_key(), d=JWK.generate("ES256").to_dict(private=True)["d"]))
)
attack("rsa-private-exponent-of-another-key", InvalidKeyError)(
    lambda: JWK.from_dict(
        _with(rsa_key(), d=JWK.generate("RS256").to_dict(private=True)["d"], private=True)
    )
)
attack("rsa-exponent-one", InvalidKeyError)(lambda: JWK.from_dict(_with(rsa_key(), e="AQ")))
attack("rsa-exponent-even", InvalidKeyError)(lambda: JWK.from_dict(_with(rsa_key(), e="AQAA")))
attack("alg-of-another-key-type", InvalidKeyError)(
    lambda: JWK.from_dict(_with(rsa_key(), alg="ES256"))
)
attack("use-and-key-ops-contradict", InvalidKeyError)(
    lambda: JWK.from_dict(_with(ec_key(), use="sig", key_ops=["encrypt"]))
)
attack("x25519-key-marked-for-signatures", InvalidKeyError)(
    lambda: JWK.from_key(x25519.X25519PrivateKey.generate().public_key(), use="sig")
)


# -- a published set holding secrets is refused whole -----------------------------------------

attack("public-set-with-rsa-private-members", JWKSError)(
    lambda: JWKSet.from_dict({"keys": [ec_key().to_dict(), rsa_key().to_dict(private=True)]})
)
attack("public-set-with-ec-private-member", JWKSError)(
    lambda: JWKSet.from_dict({"keys": [ec_key().to_dict(private=True)]})
)
attack("public-set-with-symmetric-key", JWKSError)(
    lambda: JWKSet.from_dict({"keys": [ec_key().to_dict(), hs_key().to_dict(private=True)]})
)


# -- keys that exist but may not verify this token ---------------------------------------------


def _x25519_set() -> JWKSet:
    agreement = JWK.from_key(x25519.X25519PrivateKey.generate().public_key(), kid="x")
    return JWKSet([agreement])


def _ed_token(kid: str | None) -> str:
    headers = {"kid": kid} if kid else None
    return jwt.encode(CLAIMS, JWK.generate("EdDSA"), headers)


attack("x25519-key-named-by-kid-verifies-eddsa", AlgorithmError)(
    lambda: decode(_ed_token("x"), _x25519_set())
)
attack("x25519-only-set-verifies-eddsa", NoMatchingKeyError)(
    lambda: decode(_ed_token(None), _x25519_set())
)
attack("key-with-use-enc", AlgorithmError)(
    lambda: decode(
        jwt.encode(CLAIMS, rsa_key()), JWK.from_dict(_with(rsa_key(), use="enc", drop=("alg",)))
    )
)
attack("key-ops-without-verify", AlgorithmError)(
    lambda: decode(
        jwt.encode(CLAIMS, ec_key()),
        JWK.from_dict(_with(ec_key(), key_ops=["sign"], drop=("use",))),
    )
)
attack("key-skipped-from-set-is-never-used", SkippedKeyError)(
    lambda: decode(
        jwt.encode(CLAIMS, ec_key()),
        JWKSet.from_dict({"keys": [{**_off_curve(), "kid": "ec"}, rsa_key().to_dict()]}),
    )
)


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack(name: str) -> None:
    expected, call, attrs = ATTACKS[name]
    refused(expected, call, **attrs)


def test_rsa_under_2048_bits_refused(weak_rsa: rsa.RSAPrivateKey) -> None:
    members = JWK.from_key(rsa_private()).to_dict() | {
        "n": b64url_encode(weak_rsa.public_key().public_numbers().n.to_bytes(128, "big"))
    }
    refused(InvalidKeyError, lambda: JWK.from_dict(members))
    refused(InvalidKeyError, lambda: JWK.from_key(weak_rsa.public_key(), alg="RS256"))
    refused(InvalidKeyError, lambda: JWK.generate("RS256", rsa_bits=1024))
    document = {"keys": [members | {"kid": "weak"}]}
    skipped = JWKSet.from_dict(document).skipped
    assert [(s.kid, s.code) for s in skipped] == [("weak", InvalidKeyError.code)]
    with pytest.warns(WeakKeyWarning):  # the documented switch, for legacy tokens only
        assert len(JWKSet.from_dict(document, allow_weak_rsa=True)) == 1


def test_no_secret_in_reprs_or_public_outputs() -> None:
    rsa_k, ec_k, hs_k = rsa_key(), ec_key(), hs_key()
    for key in (rsa_k, ec_k, hs_k):
        assert_no_secret(repr(key))
        assert_no_secret(str(key))
    for key in (rsa_k, ec_k):
        assert_no_secret(key.to_json())
        assert_no_secret(repr(key.to_dict()))
        assert_no_secret(repr(key.public()))
    assert_no_secret(repr(JWKSet([rsa_k, ec_k, hs_k])))
    assert_no_secret(repr(Verifier(hs_k, issuer=ISS, audience=AUD, clock=lambda: NOW)))
    assert HS_SECRET.hex() not in repr(hs_k)


def test_no_secret_in_errors_about_private_members() -> None:
    """Errors about bad private keys and leaking sets say why, never what the secret was."""
    bad = [
        lambda: JWK.from_dict(_with(rsa_key(), private=True, q="AQAB")),
        lambda: JWK.from_dict(_with(ec_key(), private=True, d=b64url_encode(bytes(31) + b"\1"))),
        lambda: JWK.from_dict(
            _with(ec_key(), private=True, d=rsa_key().to_dict(private=True)["d"])
        ),
        lambda: JWKSet.from_dict({"keys": [rsa_key().to_dict(private=True)]}),
        lambda: JWKSet.from_dict({"keys": [hs_key().to_dict(private=True)]}),
        lambda: JWK.from_secret(HS_SECRET[:8]),
        lambda: hs_key().to_dict(),
        lambda: rsa_key().public().to_pem(private=True),
    ]
    for call in bad:
        with pytest.raises(KeywellError) as info:
            call()
        assert_no_secret(str(info.value))
        assert_no_secret(repr(info.value))
    assert not any(k.is_private for k in victim_set())  # the attacks' set is public only
