"""The RFC appendix examples: RFC 7515 A.1-A.4, RFC 7517 A and B, RFC 7638 3.1, RFC 8037 A.

Values are typed from the RFC texts into ``tests/jose/data/*.json``; a typo
cannot pass silently, since every key must verify its RFC signature, match its
RFC thumbprint, or match the public key of its own certificate (RFC 7517 B).
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from keywell import JWK, JWKSet
from keywell.errors import InvalidKeyError, InvalidSignatureError, JWKSError
from keywell.jose import jws
from keywell.jose.base64url import b64url_decode
from tests.vectors import load_fixture, rfc_examples

_PRIVATE = frozenset({"d", "p", "q", "dp", "dq", "qi", "k"})


@pytest.mark.parametrize("example", rfc_examples("rfc7515_appendix_a.json"))
def test_rfc7515_jws_verifies(example: dict[str, Any]) -> None:
    key = JWK.from_dict(example["jwk"])
    token = example["jws"]
    verified = jws.verify(token, key.public() if not key.is_symmetric else key)
    assert verified.header["alg"] == example["alg"]
    assert verified.payload == b64url_decode(token.split(".")[1])
    # One flipped bit anywhere in the signature is refused.
    head, body, sig = token.split(".")
    raw = bytearray(b64url_decode(sig))
    raw[len(raw) // 2] ^= 0x01
    bad = f"{head}.{body}.{base64.urlsafe_b64encode(raw).rstrip(b'=').decode()}"
    with pytest.raises(InvalidSignatureError):
        jws.verify(bad, key)


@pytest.mark.parametrize("example", rfc_examples("rfc7515_appendix_a.json"))
def test_rfc7515_signing_reproduces_deterministic_examples(example: dict[str, Any]) -> None:
    """HS256 and RS256 are deterministic: keywell's signer yields the RFC's exact octets.

    ES256/ES512 (A.3, A.4) use a random nonce, so keywell's own signature over
    the same input is checked by verifying it instead.
    """
    key = JWK.from_dict(example["jwk"])
    head, body, sig = example["jws"].split(".")
    signing_input = f"{head}.{body}".encode("ascii")
    alg, sign = key.signer(example["alg"])
    ours = sign(signing_input)
    if example["deterministic"]:
        assert ours == b64url_decode(sig)
    else:
        assert ours != b64url_decode(sig)  # a fresh nonce, so a fresh signature
        key.public().verifier(alg)(signing_input, ours)


def test_rfc7515_a2_whole_token_reproduced() -> None:
    """A.2's header is exactly ``{"alg":"RS256"}``, the form keywell writes; the token matches.

    A.1's header (``{"typ":"JWT",\\r\\n "alg":"HS256"}``, with a CRLF) is not one
    keywell emits, so A.1 is reproduced at the signature level above.
    """
    example = load_fixture("rfc7515_appendix_a.json")["examples"]["A.2"]
    key = JWK.from_dict(example["jwk"])
    payload = b64url_decode(example["jws"].split(".")[1])
    assert jws.sign(payload, key, alg="RS256", headers={"kid": None}) == example["jws"]


# -- RFC 7517 Appendix A and B ----------------------------------------------


def _members(key: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in key.items() if k not in _PRIVATE}


@pytest.mark.parametrize("example", rfc_examples("rfc7517_appendix_a_b.json"))
def test_rfc7517_sets_parse_and_round_trip(example: dict[str, Any]) -> None:
    secret = any(_PRIVATE & key.keys() for key in example["keys"])
    keyset = JWKSet.from_dict(example, public=not secret)
    assert not keyset.skipped
    assert len(keyset) == len(example["keys"])
    for key, given in zip(keyset, example["keys"], strict=True):
        assert key.kid == given.get("kid", key.kid)
        assert key.to_dict(private=True) == given
        if key.is_symmetric:
            with pytest.raises(InvalidKeyError, match="no public form"):
                key.public()
            continue
        public = key.public()
        assert not public.is_private
        assert public.to_dict() == _members(given)
        assert key.to_dict() == _members(given)
        assert public.thumbprint() == key.thumbprint()


def test_rfc7517_a1_public_set() -> None:
    keyset = JWKSet.from_dict(load_fixture("rfc7517_appendix_a_b.json")["examples"]["A.1"])
    ec, rsa_key = keyset.get("1"), keyset.get("2011-04-29")
    assert ec is not None
    assert rsa_key is not None
    assert (ec.kty, ec.crv, ec.use) == ("EC", "P-256", "enc")
    assert ec.verify_algorithms == frozenset()  # "use": "enc" never verifies a signature
    assert rsa_key.verify_algorithms == frozenset({"RS256"})
    assert keyset.to_dict() == load_fixture("rfc7517_appendix_a_b.json")["examples"]["A.1"]


def test_rfc7517_a2_private_set_refused_as_public() -> None:
    private_set = load_fixture("rfc7517_appendix_a_b.json")["examples"]["A.2"]
    with pytest.raises(JWKSError, match="private members"):
        JWKSet.from_dict(private_set)
    keyset = JWKSet.from_dict(private_set, public=False)
    public = keyset.to_dict()
    assert public == load_fixture("rfc7517_appendix_a_b.json")["examples"]["A.1"]


def test_rfc7517_a3_symmetric_keys() -> None:
    keys = JWKSet.from_dict(
        load_fixture("rfc7517_appendix_a_b.json")["examples"]["A.3"], public=False
    ).keys
    aes, hmac = keys
    assert aes.alg == "A128KW"
    assert aes.verify_algorithms == frozenset()
    assert hmac.kid == "HMAC key used in JWS A.1 example"
    assert hmac.verify_algorithms == frozenset({"HS256", "HS384", "HS512"})  # 64 octets
    with pytest.raises(JWKSError, match="symmetric"):
        JWKSet.from_dict(load_fixture("rfc7517_appendix_a_b.json")["examples"]["A.3"])


def test_rfc7517_b_x5c_matches_key() -> None:
    given = load_fixture("rfc7517_appendix_a_b.json")["examples"]["B"]["keys"][0]
    key = JWK.from_dict(given)
    assert key.extra["x5c"] == given["x5c"]
    cert = x509.load_der_x509_certificate(base64.b64decode(given["x5c"][0]))
    cert_key = cert.public_key()
    assert isinstance(cert_key, rsa.RSAPublicKey)
    assert cert_key.public_numbers() == key.public_key.public_numbers()
    assert key.to_dict()["x5c"] == given["x5c"]


# -- RFC 7638 section 3.1 and RFC 8037 Appendix A ---------------------------


def test_rfc7638_thumbprint() -> None:
    fixture = load_fixture("rfc7638_3_1.json")
    key = JWK.from_dict(fixture["jwk"])
    assert key.thumbprint() == fixture["thumbprint"]
    assert key.thumbprint_uri() == (
        f"urn:ietf:params:oauth:jwk-thumbprint:sha-256:{fixture['thumbprint']}"
    )
    # Members outside the required set (alg, kid) do not change the thumbprint.
    bare = {m: fixture["jwk"][m] for m in ("kty", "n", "e")}
    assert JWK.from_dict(bare).thumbprint() == fixture["thumbprint"]
    assert JWK.from_dict(bare).kid == fixture["thumbprint"]  # kid defaults to it


def test_rfc8037_keys_and_thumbprint() -> None:
    fixture = load_fixture("rfc8037_appendix_a.json")
    private, public = JWK.from_dict(fixture["private"]), JWK.from_dict(fixture["public"])
    assert private.is_private
    assert not public.is_private
    assert private.public() == public
    assert private.to_dict(private=True) == {"kid": fixture["thumbprint"], **fixture["private"]}
    assert public.thumbprint() == private.thumbprint() == fixture["thumbprint"]
    assert public.verify_algorithms == frozenset({"EdDSA", "Ed25519"})


def test_rfc8037_signature_verifies_and_is_reproduced() -> None:
    fixture = load_fixture("rfc8037_appendix_a.json")
    private, public = JWK.from_dict(fixture["private"]), JWK.from_dict(fixture["public"])
    verified = jws.verify(fixture["jws"], public)
    assert verified.payload == fixture["payload"].encode()
    assert dict(verified.header) == fixture["protected"]
    # Ed25519 is deterministic: keywell signs the same header and payload to the same token.
    token = jws.sign(fixture["payload"].encode(), private, alg="EdDSA", headers={"kid": None})
    assert token == fixture["jws"]
