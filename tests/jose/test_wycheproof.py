"""Every Wycheproof JOSE, ECDSA P1363, EdDSA, RSA and HMAC vector, through keywell's own code.

The EdDSA and JWS vectors run on both Ed25519 paths, libsodium and OpenSSL
(:mod:`keywell.jose.speedups`). Each vector builds its key with
``JWK.from_dict`` and is judged by keywell's verifier for the JOSE algorithm
the file maps to (``key.verifier(alg)(msg, sig)`` for raw signatures, the
full ``jws.verify`` for the JOSE files). The verdict agrees with the vector,
except where keywell is deliberately stricter; each of those cases names the
specific error and the reason:

- ``acceptable`` RSA PKCS#1 v1.5 "MissingNull" DigestInfo: refused. Only the
  one DER encoding of RFC 8017 9.2 is accepted; lenient DigestInfo parsing is
  where signature forgeries (BERserk) come from.
- HMAC with a key shorter than the hash: the JWK is refused (InvalidKeyError,
  RFC 7518 3.2). A truncated tag: refused (InvalidSignatureError); JOSE MACs are
  the full hash output.
- JWS with a key bound to ``PS256`` used for a ``PS384`` token, or bound to the
  unregistered name ``ES521``: AlgorithmError (the alg is bound to the key,
  RFC 8725 3.1). A private key with ``key_ops: ["sign, verify"]`` (one string)
  permits neither operation.
- JWS tcId 372/373 insert ``?`` into a segment yet are labelled valid; keywell
  refuses characters outside base64url (RFC 7515 section 2 and 5.2).
- JWS tcId 367/370 are byte-identical to the valid tcId 357 but labelled
  invalid (C2SP/wycheproof issue 236): no verifier can honour both labels;
  keywell accepts the token, and the test pins the identity.
"""

from __future__ import annotations

from typing import Any

import pytest

from keywell import JWK, JWKSet
from keywell.errors import (
    AlgorithmError,
    InvalidKeyError,
    InvalidSignatureError,
    JWKSError,
    KeywellError,
    MalformedTokenError,
    NoMatchingKeyError,
)
from keywell.jose import jws
from keywell.jose.base64url import b64url_decode, b64url_encode
from tests.vectors import RUN, WycheproofCase, declared_tests, wycheproof, wycheproof_source

ECDSA = {  # file -> (JOSE alg, JWK crv, coordinate octets)
    "ecdsa_secp256r1_sha256_p1363_test.json": ("ES256", "P-256", 32),
    "ecdsa_secp384r1_sha384_p1363_test.json": ("ES384", "P-384", 48),
    "ecdsa_secp521r1_sha512_p1363_test.json": ("ES512", "P-521", 66),
    "ecdsa_secp256k1_sha256_p1363_test.json": ("ES256K", "secp256k1", 32),
}
EDDSA = ("ed25519_test.json", "ed448_test.json")
RSA_PKCS1 = tuple(
    f"rsa_signature_{bits}_sha{h}_test.json" for bits in (2048, 3072, 4096) for h in (256, 384, 512)
)
# Only the PSS files whose MGF1 hash and salt length are JOSE's (RFC 7518 3.5).
RSA_PSS = (
    "rsa_pss_2048_sha256_mgf1_32_test.json",
    "rsa_pss_2048_sha384_mgf1_48_test.json",
    "rsa_pss_3072_sha256_mgf1_32_test.json",
    "rsa_pss_4096_sha256_mgf1_32_test.json",
    "rsa_pss_4096_sha384_mgf1_48_test.json",
    "rsa_pss_4096_sha512_mgf1_64_test.json",
)
HMAC = ("hmac_sha256_test.json", "hmac_sha384_test.json", "hmac_sha512_test.json")
JWK_FILE, JWS_FILE = "json_web_key_test.json", "json_web_signature_test.json"
ALL_FILES = (*ECDSA, *EDDSA, *RSA_PKCS1, *RSA_PSS, *HMAC, JWK_FILE, JWS_FILE)


def _params(names: tuple[str, ...] | dict[str, Any]) -> list[Any]:
    return [param for name in names for param in wycheproof(name)]


def _verify_raw(key: JWK, alg: str, v: WycheproofCase) -> None:
    assert alg in key.verify_algorithms
    key.verifier(alg)(v.hex("msg"), v.hex("sig"))


def _agree(v: WycheproofCase, run: Any, error: type[KeywellError] = InvalidSignatureError) -> None:
    if v.result == "valid":
        run()
    else:
        with pytest.raises(error):
            run()


@pytest.mark.parametrize("v", _params(ECDSA))
def test_ecdsa_p1363(v: WycheproofCase) -> None:
    v.record()
    alg, crv, size = ECDSA[f"{v.source}_test.json"]
    jwk = v.group.get("publicKeyJwk")
    if jwk is None:  # a few edge-case keys come without a JWK: build it from the point
        point = v.group["publicKey"]
        jwk = {"kty": "EC", "crv": crv}
        for name in ("x", "y"):
            jwk[name] = b64url_encode(int(point[f"w{name}"], 16).to_bytes(size, "big"))
    key = JWK.from_dict(jwk)
    _agree(v, lambda: _verify_raw(key, alg, v))


@pytest.mark.usefixtures("ed25519_backend")
@pytest.mark.parametrize("v", _params(EDDSA))
def test_eddsa(v: WycheproofCase) -> None:
    v.record()
    key = JWK.from_dict(v.group["publicKeyJwk"])
    for alg in ("EdDSA", key.crv or ""):  # RFC 8037's name and RFC 9864's
        _agree(v, lambda alg=alg: _verify_raw(key, alg, v))


@pytest.mark.parametrize("v", _params(RSA_PKCS1))
def test_rsa_pkcs1_v15(v: WycheproofCase) -> None:
    v.record()
    key = JWK.from_dict(v.group["keyJwk"])
    alg = v.group["keyJwk"]["alg"]
    assert alg == f"RS{v.group['sha'].removeprefix('SHA-')}"
    if v.result == "acceptable":
        assert "MissingNull" in v.case["flags"]  # refused: see the module docstring
        with pytest.raises(InvalidSignatureError):
            _verify_raw(key, alg, v)
        return
    _agree(v, lambda: _verify_raw(key, alg, v))


@pytest.mark.parametrize("v", _params(RSA_PSS))
def test_rsa_pss(v: WycheproofCase) -> None:
    v.record()
    bits = v.group["sha"].removeprefix("SHA-")
    alg = f"PS{bits}"
    assert (v.group["mgf"], v.group["mgfSha"], int(v.group["sLen"])) == (
        "MGF1",
        v.group["sha"],
        int(bits) // 8,
    )
    key = JWK.from_dict(v.group["publicKeyJwk"])
    assert key.alg == alg
    _agree(v, lambda: _verify_raw(key, alg, v))


@pytest.mark.parametrize("v", _params(HMAC))
def test_hmac(v: WycheproofCase) -> None:
    v.record()
    bits = int(v.source.removeprefix("hmac_sha"))
    alg = f"HS{bits}"
    members = {"kty": "oct", "k": b64url_encode(v.hex("key"))}
    if int(v.group["keySize"]) < bits:  # shorter than the hash: refused for JOSE
        with pytest.raises(InvalidKeyError, match="at least"):
            JWK.from_dict({**members, "alg": alg})
        assert alg not in JWK.from_dict(members).verify_algorithms
        return
    key = JWK.from_dict({**members, "alg": alg})
    verify = key.verifier(alg)
    if int(v.group["tagSize"]) < bits:  # a truncated MAC: never accepted
        with pytest.raises(InvalidSignatureError):
            verify(v.hex("msg"), v.hex("tag"))
        return
    _agree(v, lambda: verify(v.hex("msg"), v.hex("tag")))
    if v.result == "valid":  # HMAC is deterministic: keywell's signer gives the same tag
        assert key.signer(alg)[1](v.hex("msg")) == v.hex("tag")


# -- JOSE files -------------------------------------------------------------

_JWS = {p.values[0].tc_id: p.values[0] for p in wycheproof(JWS_FILE)}
# tcId -> (comment, expected error): keywell's stricter verdicts on "valid" vectors.
_STRICTER: dict[int, tuple[str, Any]] = {
    346: ("Figure20", AlgorithmError),  # key "alg": "PS256", token PS384
    350: ("Figure20", AlgorithmError),
    347: ("Figure27", AlgorithmError),  # key "alg": "ES521", not a registered name
    351: ("Figure27", AlgorithmError),
    372: ("InvalidCharacterInsertedInHeader", MalformedTokenError),
    # The MAC covers the ASCII segments, so '?' fails the MAC before payload decoding.
    373: ("InvalidCharacterInsertedInPayload", (MalformedTokenError, InvalidSignatureError)),
}
_CONTRADICTED = {367: 357, 370: 357}  # tcId -> the valid tcId with the identical token


@pytest.mark.usefixtures("ed25519_backend")
@pytest.mark.parametrize("v", wycheproof(JWS_FILE))
def test_json_web_signature(v: WycheproofCase) -> None:
    v.record()
    key = JWK.from_dict(v.group.get("public", v.group["private"]))
    token = v.case["jws"]
    if v.tc_id in _STRICTER:
        comment, error = _STRICTER[v.tc_id]
        assert (v.case["comment"], v.result) == (comment, "valid")
        with pytest.raises(error):
            jws.verify(token, key)
        return
    if v.tc_id in _CONTRADICTED:
        twin = _JWS[_CONTRADICTED[v.tc_id]]
        assert (token, twin.result, v.result) == (twin.case["jws"], "valid", "invalid")
        jws.verify(token, key)
        return
    if v.result == "valid":
        verified = jws.verify(token, key)
        assert verified.payload == b64url_decode(token.split(".")[1])
    else:
        with pytest.raises(KeywellError):
            jws.verify(token, key)


def test_key_ops_as_one_string_permits_nothing() -> None:
    """``key_ops: ["sign, verify"]`` is one unknown operation, not two (RFC 7517 4.3)."""
    groups = [v.group for v in _JWS.values() if v.group.get("private", {}).get("key_ops")]
    odd = [g["private"] for g in groups if g["private"]["key_ops"] == ["sign, verify"]]
    assert odd
    key = JWK.from_dict(odd[0])
    assert key.verify_algorithms == frozenset()
    assert key.sign_algorithms == frozenset()
    with pytest.raises(InvalidKeyError):
        key.signer()


# json_web_key_test comment -> what the skipped key's reason says (the key is refused).
_SKIP_REASON = {
    "rejectsKeyWithRocaVulnerability": "ROCA",
    "rejects1024bitRsaKey": "2048-bit minimum",
    "rejectsPublicExponent1": "exponent",
    "key_too_short": "at least",
    "empty_key": "empty",
}


@pytest.mark.parametrize("v", wycheproof(JWK_FILE))
def test_json_web_key_set(v: WycheproofCase) -> None:
    """A set with a ``public`` form is loaded as a public set; else as a secret one."""
    v.record()
    flags = set(v.case["flags"])
    public = "public" in v.group
    document = v.group["public"] if public else v.group["private"]
    if "MixedKeySet" in flags:  # a secret key next to public-only keys
        with pytest.raises(JWKSError, match="mixes"):
            JWKSet.from_dict(document, public=public)
        return
    keyset = JWKSet.from_dict(document, public=public)
    reason = _SKIP_REASON.get(v.case["comment"])
    if reason is not None:
        assert any(reason in s.reason for s in keyset.skipped), keyset.skipped
    if v.result == "valid":
        assert not keyset.skipped
        jws.verify(v.case["jws"], keyset)
        return
    error = NoMatchingKeyError if "DuplicateKid" in flags or reason else KeywellError
    with pytest.raises(error):
        jws.verify(v.case["jws"], keyset)


def test_every_vector_ran(
    request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    """No vector is dropped: every test of each file is collected, and each one selected ran."""
    selected: dict[str, int] = dict.fromkeys(map(wycheproof_source, ALL_FILES), 0)
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        vector = callspec.params.get("v") if callspec else None
        if isinstance(vector, WycheproofCase):
            selected[vector.source] += 1
    lines = []
    for name in ALL_FILES:
        source = wycheproof_source(name)
        assert len(wycheproof(name)) == declared_tests(name), name
        assert RUN[source] == selected[source], source
        lines.append(f"{source}={RUN[source]}/{declared_tests(name)}")
    total = sum(RUN[wycheproof_source(n)] for n in ALL_FILES)
    with capsys.disabled():  # shown in every run, -q included
        print(f"\nWycheproof vectors run: {total} ({', '.join(lines)})")
    assert total == sum(selected.values())
