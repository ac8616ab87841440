"""RFC 7520 (JOSE Cookbook) JWK and JWS examples, plus the RFC 7797 and curve25519 extras.

Policy, per example:

- ``jwk/3_*``: every key parses, round-trips through ``to_dict`` and loses its
  private members in ``public()``; 3_5 (HS256) and 3_6 (A256GCM) are symmetric.
- ``jws/4_1``-``4_4``: the compact serialization verifies. 4_1 (RS256) and 4_4
  (HS256) are reproducible: keywell re-signs to the very same token. 4_2 (PS384)
  and 4_3 (ES512 on P-521, the curve ES512 names in RFC 7518 3.4) use random
  signatures and are verified only.
- ``jws/4_5``-``4_8`` exist only as JSON serializations or with detached
  content; keywell speaks the compact form only, so each signature whose
  protected header carries ``alg`` is rebuilt as a compact JWS and verifies, and
  one without a protected header (4_7, 4_8's ES512) is refused: a compact JWS
  needs its ``alg`` protected.
- ``rfc7797``: ``"b64": false`` is refused outright (MalformedTokenError).
- ``curve25519``: the Ed25519 example verifies and is reproduced; the X25519 key
  parses as a key-agreement key that can verify nothing.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from keywell import JWK, JWKSet
from keywell.errors import InvalidKeyError, InvalidSignatureError, MalformedTokenError
from keywell.jose import jws
from keywell.jose.base64url import b64url_decode, b64url_encode
from tests.vectors import cookbook

_PRIVATE = frozenset({"d", "p", "q", "dp", "dq", "qi", "k"})


def _payload(example: dict[str, Any]) -> bytes:
    return str(example["input"]["payload"]).encode("utf-8")


@pytest.mark.parametrize("given", cookbook("jwk/*.json"))
def test_jwk_parses_and_round_trips(given: dict[str, Any]) -> None:
    key = JWK.from_dict(given)
    assert key.kid == given["kid"]
    assert key.kid_given
    assert key.use == given["use"]
    assert key.to_dict(private=True) == given
    assert key.is_private == bool(_PRIVATE & given.keys())
    if given["kty"] == "oct":
        assert key.is_symmetric
        assert key.verify_algorithms == (frozenset({"HS256"}) if given["use"] == "sig" else set())
        with pytest.raises(InvalidKeyError):
            key.public()
        return
    public = key.public()
    assert public.to_dict() == {k: v for k, v in given.items() if k not in _PRIVATE}
    assert public.thumbprint() == key.thumbprint()
    algs = {"EC": {"ES512"}, "RSA": {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}}
    assert public.verify_algorithms == algs[given["kty"]]


@pytest.mark.parametrize("example", cookbook("jws/4_[1-4].*.json"))
def test_compact_jws_verifies(example: dict[str, Any]) -> None:
    key = JWK.from_dict(example["input"]["key"])
    verifier = key if key.is_symmetric else key.public()
    verified = jws.verify(example["output"]["compact"], verifier)
    assert verified.payload == _payload(example)
    assert dict(verified.header) == example["signing"]["protected"]
    assert verified.header["alg"] == example["input"]["alg"]


@pytest.mark.parametrize("example", cookbook("jws/4_[1-4].*.json"))
def test_reproducible_examples_are_reproduced(example: dict[str, Any]) -> None:
    key = JWK.from_dict(example["input"]["key"])
    alg = example["input"]["alg"]
    token = jws.sign(_payload(example), key, alg=alg)
    if example.get("reproducible"):
        assert token == example["output"]["compact"]
        assert token.rsplit(".", 1)[1] == example["signing"]["sig"]
    else:  # a random nonce or salt: a fresh signature that still verifies
        assert token != example["output"]["compact"]
        assert jws.verify(token, key.public()).payload == _payload(example)


def _protected(sig: dict[str, Any]) -> dict[str, Any]:
    return json.loads(b64url_decode(sig["protected"])) if sig.get("protected") else {}


@pytest.mark.parametrize("example", cookbook("jws/4_[5-8].*.json"))
def test_json_only_examples_as_compact(example: dict[str, Any]) -> None:
    keys = example["input"]["key"]
    keyset = JWKSet.from_dict({"keys": keys if isinstance(keys, list) else [keys]}, public=False)
    payload_b64 = b64url_encode(_payload(example))
    output = example["output"]
    signatures = output["json"]["signatures"] if "json" in output else [output["json_flat"]]
    for sig in signatures:
        token = f"{sig.get('protected', '')}.{payload_b64}.{sig['signature']}"
        if "alg" not in _protected(sig):  # 4_7 and 4_8's ES512: alg only unprotected
            with pytest.raises(MalformedTokenError):
                jws.verify(token, keyset)
            continue
        # The kid of 4_6 and 4_8 sits in the unprotected header; the caller picks the key.
        kid = sig.get("header", {}).get("kid")
        source = keyset.get(kid) if kid is not None else keyset
        assert source is not None
        assert jws.verify(token, source).payload == _payload(example)


def test_detached_content_4_5() -> None:
    """RFC 7515 Appendix F: the detached token is refused as given; re-attached, it verifies."""
    (example,) = (p.values[0] for p in cookbook("jws/4_5.*.json"))
    key = JWK.from_dict(example["input"]["key"])
    detached = example["output"]["compact"]
    with pytest.raises(InvalidSignatureError):
        jws.verify(detached, key)
    head, _, sig = detached.split(".")
    attached = f"{head}.{b64url_encode(_payload(example))}.{sig}"
    assert jws.verify(attached, key).payload == _payload(example)


@pytest.mark.parametrize("example", cookbook("rfc7797/*.json"))
def test_rfc7797_unencoded_payload_refused(example: dict[str, Any]) -> None:
    key = JWK.from_dict(example["input"]["key"])
    assert example["signing"]["protected"]["b64"] is False
    output = example["output"]
    # The compact form if given; else the detached compact form RFC 7797 section 5.2 allows.
    token = (
        output.get("compact")
        or f"{output['json_flat']['protected']}..{output['json_flat']['signature']}"
    )
    with pytest.raises(MalformedTokenError, match="b64"):
        jws.verify(token, key)


def test_curve25519_ed25519_signing() -> None:
    (example,) = (p.values[0] for p in cookbook("curve25519/jws.json"))
    key = JWK.from_dict(example["input"]["key"])
    compact = example["output"]["compact"]
    assert jws.verify(compact, key.public()).payload == _payload(example)
    token = jws.sign(_payload(example), key, alg="EdDSA", headers={"kid": None})
    assert token == compact


def test_curve25519_x25519_key_verifies_nothing() -> None:
    (example,) = (p.values[0] for p in cookbook("curve25519/ecdh-es.json"))
    key = JWK.from_dict(example["input"]["key"])
    assert (key.kty, key.crv, key.use) == ("OKP", "X25519", "enc")
    assert key.verify_algorithms == frozenset()
    assert key.sign_algorithms == frozenset()
    assert key.public().to_dict() == {k: v for k, v in example["input"]["key"].items() if k != "d"}
