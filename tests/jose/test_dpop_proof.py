"""RFC 9449 section 4.3: every check of a DPoP proof, each refusal typed and naming its member."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest
from requests_oauth2client.dpop import validate_dpop_proof

from keywell import JWK
from keywell.errors import DPoPNonceError, DPoPProofError, InvalidKeyError
from keywell.jose import (
    DPoPPolicy,
    HMACNonces,
    access_token_hash,
    check_proof,
    make_proof,
    normalize_htu,
)
from keywell.jose._compact import compact, encode_header
from keywell.jose.base64url import b64url_encode, int_to_b64

from .dpop_helpers import CLIENT, CLIENTS, NOW, OTHER, TOKEN, URI, forge, good_proof, proof_parts

POLICY = DPoPPolicy()


def _check(proof: str, policy: DPoPPolicy = POLICY, **kw: Any) -> Any:
    args: dict[str, Any] = {"method": "GET", "uri": URI, "now": NOW, "access_token": TOKEN}
    args.update(kw)
    return check_proof(proof, policy=policy, **args)


@pytest.mark.parametrize("alg", sorted(CLIENTS))
def test_a_valid_proof_passes_and_names_its_key(alg: str) -> None:
    key = CLIENTS[alg]
    checked = _check(good_proof(key))
    assert checked.jkt == key.thumbprint()
    assert checked.claims["htm"] == "GET"
    assert not checked.key.is_private


def _header(**changes: Any) -> Callable[[], str]:
    def build() -> str:
        header, claims = proof_parts()
        for name, value in changes.items():
            if value is _DROP:
                del header[name]
            else:
                header[name] = value
        return forge(header, claims, CLIENT, "ES256")

    return build


def _claims(**changes: Any) -> Callable[[], str]:
    def build() -> str:
        header, claims = proof_parts()
        for name, value in changes.items():
            if value is _DROP:
                del claims[name]
            else:
                claims[name] = value
        return forge(header, claims, CLIENT, "ES256")

    return build


_DROP = object()
_PUB = {k: v for k, v in CLIENT.public().to_dict().items() if k != "kid"}
_PRIV = {k: v for k, v in CLIENT.to_dict(private=True).items() if k != "kid"}
_RSA = {k: v for k, v in CLIENTS["RS256"].public().to_dict().items() if k != "kid"}
# A public RSA key needs no primes: any odd 8192-bit modulus parses (generating one takes ~1 min).
_BIG_RSA = {"kty": "RSA", "e": "AQAB", "n": int_to_b64((1 << 8191) | secrets.randbits(8190) | 1)}


def _other_signer() -> str:
    header, claims = proof_parts()
    return forge(header, claims, OTHER, "ES256")  # header names CLIENT's key


def _bad_signature() -> str:
    h, p, _ = good_proof().split(".")
    return f"{h}.{p}.AAAA"


def _not_json_payload() -> str:
    _, signer = CLIENT.signer("ES256")
    return compact(encode_header("ES256", None, {"jwk": _PUB}, "dpop+jwt"), b"[1,2]", signer)


CASES: dict[str, tuple[Callable[[], str], type[DPoPProofError], str]] = {
    "not-a-jws": (lambda: "abc", DPoPProofError, "DPoP"),
    "jwe-shaped": (lambda: "a.b.c.d.e", DPoPProofError, "DPoP"),
    "too-large": (lambda: "a" * 9000, DPoPProofError, "DPoP"),
    "non-ascii": (lambda: "é.é.é", DPoPProofError, "DPoP"),
    "header-not-base64": (lambda: "!!!.e30.AAAA", DPoPProofError, "header"),
    "typ-missing": (_header(typ=_DROP), DPoPProofError, "typ"),
    "typ-jwt": (_header(typ="JWT"), DPoPProofError, "typ"),
    "typ-at-jwt": (_header(typ="at+jwt"), DPoPProofError, "typ"),
    "typ-number": (_header(typ=7), DPoPProofError, "typ"),
    "alg-none": (lambda: "eyJhbGciOiJub25lIiwidHlwIjoiZHBvcCtqd3QifQ.e30.", DPoPProofError, "alg"),
    "alg-hs256": (_header(alg="HS256"), DPoPProofError, "alg"),
    "alg-unknown": (_header(alg="XX1"), DPoPProofError, "alg"),
    "alg-other-curve": (_header(alg="ES384"), DPoPProofError, "alg"),
    "alg-rsa-for-ec-key": (_header(alg="RS256"), DPoPProofError, "alg"),
    "alg-missing": (_header(alg=_DROP), DPoPProofError, "alg"),
    "crit": (_header(crit=["exp"], exp=1), DPoPProofError, "crit"),
    "jwk-missing": (_header(jwk=_DROP), DPoPProofError, "jwk"),
    "jwk-not-object": (_header(jwk="key"), DPoPProofError, "jwk"),
    "jwk-private": (_header(jwk=_PRIV), DPoPProofError, "jwk"),
    "jwk-symmetric": (_header(jwk={"kty": "oct", "k": "c2VjcmV0"}), DPoPProofError, "jwk"),
    "jwk-off-curve": (_header(jwk={**_PUB, "y": _PUB["x"]}), DPoPProofError, "jwk"),
    "jwk-unknown-kty": (_header(jwk={"kty": "XYZ"}), DPoPProofError, "jwk"),
    "jwk-other-type": (_header(jwk=_RSA), DPoPProofError, "alg"),
    "jwk-rsa-over-4096-bits": (_header(jwk=_BIG_RSA, alg="RS256"), DPoPProofError, "jwk"),
    "signature-other-key": (_other_signer, DPoPProofError, "signature"),
    "signature-garbage": (_bad_signature, DPoPProofError, "signature"),
    "payload-not-object": (_not_json_payload, DPoPProofError, "payload"),
    "jti-missing": (_claims(jti=_DROP), DPoPProofError, "jti"),
    "jti-empty": (_claims(jti=""), DPoPProofError, "jti"),
    "jti-long": (_claims(jti="j" * 300), DPoPProofError, "jti"),
    "jti-number": (_claims(jti=5), DPoPProofError, "jti"),
    "htm-missing": (_claims(htm=_DROP), DPoPProofError, "htm"),
    "htm-other": (_claims(htm="POST"), DPoPProofError, "htm"),
    "htm-lowercase": (_claims(htm="get"), DPoPProofError, "htm"),
    "htm-list": (_claims(htm=["GET"]), DPoPProofError, "htm"),
    "htu-missing": (_claims(htu=_DROP), DPoPProofError, "htu"),
    "htu-other-host": (_claims(htu="https://evil.example/orders"), DPoPProofError, "htu"),
    "htu-other-path": (_claims(htu="https://api.example/orders/1"), DPoPProofError, "htu"),
    "htu-http": (_claims(htu="http://api.example/orders"), DPoPProofError, "htu"),
    "htu-other-port": (_claims(htu="https://api.example:8443/orders"), DPoPProofError, "htu"),
    "htu-relative": (_claims(htu="/orders"), DPoPProofError, "htu"),
    "htu-userinfo": (_claims(htu="https://u@api.example/orders"), DPoPProofError, "htu"),
    "htu-number": (_claims(htu=1), DPoPProofError, "htu"),
    "iat-missing": (_claims(iat=_DROP), DPoPProofError, "iat"),
    "iat-string": (_claims(iat="now"), DPoPProofError, "iat"),
    "iat-null": (_claims(iat=None), DPoPProofError, "iat"),
    "iat-future": (_claims(iat=NOW + 60), DPoPProofError, "iat"),
    "iat-old": (_claims(iat=NOW - 3600), DPoPProofError, "iat"),
    "ath-missing": (_claims(ath=_DROP), DPoPProofError, "ath"),
    "ath-other-token": (_claims(ath=access_token_hash("x.y.z")), DPoPProofError, "ath"),
    "ath-number": (_claims(ath=1), DPoPProofError, "ath"),
    "nonce-number": (_claims(nonce=1), DPoPProofError, "nonce"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_each_failed_check_is_a_typed_refusal_naming_its_member(name: str) -> None:
    build, cls, member = CASES[name]
    with pytest.raises(cls) as info:
        _check(build())
    assert type(info.value) is cls
    assert info.value.member == member
    assert info.value.error == "invalid_dpop_proof"
    assert info.value.code == "KW_DPOP_PROOF_INVALID"


def test_algorithms_outside_the_policy_are_refused_even_when_the_key_fits() -> None:
    with pytest.raises(DPoPProofError) as info:
        _check(good_proof(CLIENTS["RS256"]), DPoPPolicy(algorithms=["ES256"]))
    assert info.value.member == "alg"


def test_a_signed_payload_that_is_not_base64url_is_refused_as_payload() -> None:
    seg = encode_header("ES256", None, {"jwk": _PUB}, "dpop+jwt")
    _, signer = CLIENT.signer("ES256")
    signing_input = f"{seg}.e30xx"  # 5 characters: a length no base64url encoder produces
    proof = f"{signing_input}.{b64url_encode(signer(signing_input.encode()))}"
    with pytest.raises(DPoPProofError) as info:
        _check(proof)
    assert info.value.member == "payload"


def test_a_non_ascii_access_token_never_matches_ath() -> None:
    with pytest.raises(DPoPProofError) as info:
        _check(good_proof(), access_token="tok\u00e9n")
    assert info.value.member == "ath"


def test_a_proof_without_an_access_token_needs_no_ath() -> None:
    assert _check(good_proof(token=None), access_token=None).jkt == CLIENT.thumbprint()


def test_the_iat_window_edges_hold() -> None:
    policy = DPoPPolicy(max_age=60, leeway=5)
    _check(good_proof(iat=NOW - 64.999), policy)
    _check(good_proof(iat=NOW + 5), policy)
    for iat in (NOW - 65, NOW - 65.5, NOW + 5.5):  # the window is half-open: [iat - 5, iat + 65)
        with pytest.raises(DPoPProofError):
            _check(good_proof(iat=iat), policy)


def test_a_required_nonce_is_asked_for_with_a_fresh_one() -> None:
    nonces = HMACNonces(b"n" * 32, window=60)
    policy = DPoPPolicy(nonces=nonces)
    for proof in (
        good_proof(),
        good_proof(nonce="stale"),
        good_proof(nonce=nonces.issue(NOW - 200)),
    ):
        with pytest.raises(DPoPNonceError) as info:
            _check(proof, policy)
        assert info.value.error == "use_dpop_nonce"
        assert nonces.is_current(info.value.nonce, NOW)
    assert _check(good_proof(nonce=nonces.issue(NOW)), policy)
    assert _check(good_proof(nonce=nonces.issue(NOW - 60)), policy)  # the previous window


def test_hmac_nonces_refuse_foreign_and_garbled_values() -> None:
    mine, theirs = HMACNonces(b"a" * 32), HMACNonces(b"b" * 32)
    assert not mine.is_current(theirs.issue(NOW), NOW)
    for junk in ("", "!!", "AAAA", "A" * 200, mine.issue(NOW)[:-2] + "AA"):
        assert not mine.is_current(junk, NOW)
    assert "a" * 8 not in repr(mine)
    with pytest.raises(ValueError, match="32 bytes"):
        HMACNonces(b"short")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("HTTPS://API.Example/orders", "https://api.example/orders"),
        ("https://api.example:443/orders", "https://api.example/orders"),
        ("http://api.example:80", "http://api.example/"),
        ("https://api.example/%6f%72ders", "https://api.example/orders"),
        ("https://api.example/a%2fb", "https://api.example/a%2Fb"),
        ("https://api.example/a/./b/../orders", "https://api.example/a/orders"),
        ("https://api.example/orders?x=1#frag", "https://api.example/orders"),
        ("https://[::1]:8443/x", "https://[::1]:8443/x"),
    ],
)
def test_htu_normalisation_rfc3986_6_2_2_and_6_2_3(given: str, expected: str) -> None:
    assert normalize_htu(given) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "ftp://h/",
        "//h/x",
        "https:///x",
        "https://u:p@h/",
        "https://h:99999/",
        "https://h/a b",
        "https://h/%zz",
        "https://h<>/",
        "x" * 9000,
        "",
    ],
)
def test_htu_that_is_no_http_uri_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        normalize_htu(bad)


@pytest.mark.parametrize("alg", sorted(CLIENTS))
def test_keywell_proofs_pass_an_independent_verifier(alg: str) -> None:
    """requests-oauth2client's validate_dpop_proof (jwskate underneath) accepts them."""
    proof = make_proof(CLIENTS[alg], "POST", "https://api.example/x?q=1#f", access_token=TOKEN)
    checked = validate_dpop_proof(
        proof, htm="POST", htu="https://api.example/x", ath=access_token_hash(TOKEN), alg=alg
    )
    assert checked.claims["htu"] == "https://api.example/x"


def test_make_proof_refuses_public_and_symmetric_keys() -> None:
    for key in (CLIENT.public(), JWK.from_secret(b"s" * 32)):
        with pytest.raises(InvalidKeyError):
            make_proof(key, "GET", URI)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"algorithms": []}, ValueError),
        ({"algorithms": ["HS256"]}, ValueError),
        ({"algorithms": "ES256"}, ValueError),
        ({"max_age": 0}, ValueError),
        ({"leeway": -1}, ValueError),
        ({"max_size": 0}, ValueError),
        ({"replay": object()}, TypeError),
        ({"nonces": object()}, TypeError),
    ],
)
def test_policy_misconfiguration_fails_at_construction(kwargs: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        DPoPPolicy(**kwargs)
