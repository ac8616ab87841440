"""jws.sign: the header keywell writes, and the members a caller may not set."""

from __future__ import annotations

import json

import pytest

from keywell import JWK, errors, jws
from keywell.jose.base64url import b64url_decode

KEY = JWK.generate("ES256", kid="k1")


def header_of(token: str) -> dict[str, object]:
    result: dict[str, object] = json.loads(b64url_decode(token.split(".")[0]))
    return result


def test_default_header_has_alg_and_kid() -> None:
    assert header_of(jws.sign(b"x", KEY)) == {"alg": "ES256", "kid": "k1"}


def test_typ_and_extra_headers() -> None:
    token = jws.sign(b"x", KEY, typ="at+jwt", headers={"cty": "text"})
    assert header_of(token) == {"alg": "ES256", "typ": "at+jwt", "kid": "k1", "cty": "text"}
    assert jws.verify(token, KEY.public()).payload == b"x"


def test_kid_may_be_overridden() -> None:
    token = jws.sign(b"x", KEY, headers={"kid": "rotated"})
    assert header_of(token)["kid"] == "rotated"


@pytest.mark.parametrize("member", ["alg", "crit", "b64"])
def test_reserved_headers_are_refused(member: str) -> None:
    with pytest.raises(ValueError, match=member):
        jws.sign(b"x", KEY, headers={member: "x"})


def test_a_public_key_cannot_sign() -> None:
    with pytest.raises(errors.InvalidKeyError):
        jws.sign(b"x", KEY.public())


def test_a_key_signs_only_with_its_own_alg() -> None:
    with pytest.raises(errors.InvalidKeyError):
        jws.sign(b"x", KEY, alg="ES384")


def test_key_without_alg_signs_with_its_type_default() -> None:
    bare = JWK.from_dict({k: v for k, v in KEY.to_dict(private=True).items() if k != "alg"})
    token = jws.sign(b"x", bare)
    assert header_of(token)["alg"] == "ES256"


def test_empty_payload_round_trips() -> None:
    token = jws.sign(b"", KEY)
    assert jws.verify(token, KEY.public()).payload == b""


def test_a_weak_rsa_key_verifies_legacy_tokens_but_never_signs() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from keywell import WeakKeyWarning
    from keywell.jose.jwk_convert import key_to_members

    legacy = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the legacy key under test
    members = {**key_to_members(legacy), "alg": "RS256"}
    with pytest.raises(errors.InvalidKeyError):
        JWK.from_dict(members)
    with pytest.warns(WeakKeyWarning):
        weak = JWK.from_dict(members, allow_weak_rsa=True)
    assert weak.sign_algorithms == frozenset()
    with pytest.raises(errors.InvalidKeyError):
        jws.sign(b"x", weak)
    header = '{"alg":"RS256"}'
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    from keywell.jose.base64url import b64url_encode

    signing_input = f"{b64url_encode(header.encode())}.{b64url_encode(b'legacy')}"
    signature = legacy.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    token = f"{signing_input}.{b64url_encode(signature)}"
    assert jws.verify(token, weak.public()).payload == b"legacy"


def test_a_kidless_token_is_tried_against_a_bounded_number_of_keys() -> None:
    from keywell import JWKSet
    from keywell.jose.jwkset import MAX_KIDLESS_CANDIDATES

    signer = JWK.generate("ES256", kid="real")
    others = [JWK.generate("ES256", kid=f"k{i}").public() for i in range(MAX_KIDLESS_CANDIDATES)]
    token = jws.sign(b"x", signer, headers={"kid": None})
    small = JWKSet([*others[:-1], signer.public()])
    assert jws.verify(token, small).key.kid == "real"
    large = JWKSet([*others, signer.public()])
    with pytest.raises(errors.NoMatchingKeyError, match="no kid"):
        jws.verify(token, large)
