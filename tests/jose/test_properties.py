"""Property tests: key and token round trips, tamper-evidence, base64url strictness.

Hypothesis runs derandomized (the same examples on every run) with no example
database, so CI is deterministic and nothing is written to the checkout.
"""

from __future__ import annotations

import base64
import functools
import json
import string
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from keywell import JWK, InvalidKeyError, TokenError, jws, jwt
from keywell.jose import jwk as jwk_module
from keywell.jose.algorithms import ALGORITHMS
from keywell.jose.base64url import b64url_decode, b64url_encode

PROPS = settings(max_examples=60, deadline=None, derandomize=True, database=None)
ALGS = sorted(ALGORITHMS)
ASYMMETRIC = [a for a in ALGS if not a.startswith("HS")]
REGISTERED = {"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k"}
B64URL = string.ascii_letters + string.digits + "-_"


@functools.cache
def pool(alg: str) -> JWK:
    """One generated private key per algorithm (RSA generation is too slow per example)."""
    return JWK.generate(alg, kid=f"kid-{alg}")


def verifying(key: JWK) -> JWK:
    return key if key.is_symmetric else key.public()


# -- keys ---------------------------------------------------------------------------------------

kids = st.text(min_size=1, max_size=40) | st.sampled_from(["a+b/c=", "==", "/", "kid with space"])
extras = st.dictionaries(
    st.text(min_size=1, max_size=8).filter(lambda k: k not in PRIVATE_MEMBERS | {"kty", "crv"}),
    st.integers() | st.text(max_size=8),
    max_size=3,
)


@PROPS
@given(alg=st.sampled_from(ALGS), kid=kids)
def test_key_dict_and_json_round_trip(alg: str, kid: str) -> None:
    members = pool(alg).to_dict(private=True) | {"kid": kid}
    key = JWK.from_dict(members)
    assert key.kid == kid
    assert key.to_dict(private=True) == members
    assert JWK.from_json(key.to_json(private=True)) == key
    if not key.is_symmetric:
        assert JWK.from_dict(key.to_dict()) == key.public()


@PROPS
@given(
    alg=st.sampled_from(ASYMMETRIC),
    private=st.booleans(),
    der=st.booleans(),
    password=st.sampled_from([None, b"correct horse"]),
)
def test_key_pem_and_der_round_trip(
    alg: str, private: bool, der: bool, password: bytes | None
) -> None:
    key = pool(alg)
    password = password if private else None
    export = key.to_der if der else key.to_pem
    load = JWK.from_der if der else JWK.from_pem
    data = export(private=private, password=password)
    back = load(data, password=password, alg=key.alg, kid=key.kid, use=key.use)
    assert back.is_private is private
    assert back == (key if private else key.public())
    assert back.thumbprint() == key.thumbprint()


@PROPS
@given(alg=st.sampled_from(ALGS))
def test_public_half_is_idempotent_and_secret_free(alg: str) -> None:
    key = pool(alg)
    if key.is_symmetric:
        with pytest.raises(InvalidKeyError):
            key.to_dict()
        return
    public = key.public()
    assert public.public() is public
    assert not public.is_private
    assert public.sign_algorithms == frozenset()
    assert public.verify_algorithms == key.verify_algorithms
    assert not PRIVATE_MEMBERS & public.to_dict(private=True).keys()
    assert public.thumbprint() == key.thumbprint()
    assert public.thumbprint_uri().endswith(key.thumbprint())


@PROPS
@given(alg=st.sampled_from(ASYMMETRIC), extra=extras, data=st.data())
def test_thumbprint_ignores_member_order_and_extra_members(
    alg: str, extra: dict[str, Any], data: st.DataObject
) -> None:
    members = list((pool(alg).to_dict() | extra).items())
    shuffled = dict(data.draw(st.permutations(members)))
    key = JWK.from_dict(shuffled)
    assert key.thumbprint() == pool(alg).thumbprint()
    assert not set(extra) - {"x5c", "x5t", "x5u", "x5t#S256"} & key.to_dict().keys()


@PROPS
@given(secret=st.binary(min_size=64, max_size=96))
@example(secret=b"{" + bytes(63))  # random octets may begin like a JWK...
@example(secret=b"\x30\x82" + bytes(62))  # ...or like a DER SEQUENCE
@example(secret=b"\t{" + bytes(62))
def test_from_secret_accepts_random_secrets(secret: bytes) -> None:
    """Only secrets that *are* keys are refused; random octets that merely start alike are not."""
    key = JWK.from_secret(secret, alg="HS512")
    assert b64url_decode(key.to_dict(private=True)["k"]) == secret


def test_generate_never_refuses_its_own_random_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """``secrets.token_bytes`` returns such octets about once in 256 calls; fix one here."""
    monkeypatch.setattr(jwk_module.secrets, "token_bytes", lambda n: b"{" + bytes(n - 1))
    key = JWK.generate("HS256")
    assert key.to_dict(private=True)["k"] == b64url_encode(b"{" + bytes(31))


# -- tokens -----------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=16),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
claim_sets = st.dictionaries(
    st.text(max_size=12).filter(lambda k: k not in REGISTERED), json_values, max_size=6
)


@PROPS
@given(alg=st.sampled_from(ALGS), claims=claim_sets)
def test_token_claims_round_trip(alg: str, claims: dict[str, Any]) -> None:
    key = pool(alg)
    token = jwt.encode(claims, key)
    decoded = jwt.decode(token, verifying(key), issuer=None, audience=None, required=())
    assert dict(decoded) == claims
    assert json.dumps(dict(decoded), sort_keys=True) == json.dumps(claims, sort_keys=True)


@PROPS
@given(alg=st.sampled_from(ALGS), payload=st.binary(max_size=300))
def test_jws_payload_round_trip(alg: str, payload: bytes) -> None:
    key = pool(alg)
    result = jws.verify(jws.sign(payload, key), verifying(key))
    assert result.payload == payload
    assert result.header["alg"] == key.alg


@functools.cache
def signed(alg: str) -> bytes:
    return jwt.encode({"sub": "alice", "exp": 4_000_000_000}, pool(alg)).encode()


def _refused(token: bytes | str, key: JWK) -> None:
    with pytest.raises(TokenError):  # anything else (TypeError, ValueError...) fails the test
        jwt.decode(token, verifying(key), issuer=None, audience=None)


def test_every_single_byte_change_fails_hs256() -> None:
    """Exhaustively: each position of an HS256 token, each of the 255 other byte values."""
    key = JWK.from_secret(bytes(range(65, 97)), alg="HS256", kid="hs")
    token = jwt.encode({"sub": "alice", "exp": 4_000_000_000}, key).encode()
    assert jwt.decode(token, key, issuer=None, audience=None)["sub"] == "alice"
    for i, original in enumerate(token):
        for value in range(256):
            if value != original:
                _refused(token[:i] + bytes([value]) + token[i + 1 :], key)


@settings(PROPS, max_examples=100)
@given(alg=st.sampled_from(ALGS), data=st.data())
def test_single_byte_change_fails_every_algorithm(alg: str, data: st.DataObject) -> None:
    token = signed(alg)
    i = data.draw(st.integers(0, len(token) - 1), label="position")
    value = data.draw(st.integers(0, 255).filter(lambda v: v != token[i]), label="byte")
    _refused(token[:i] + bytes([value]) + token[i + 1 :], pool(alg))


@PROPS
@given(alg=st.sampled_from(ALGS), data=st.data())
def test_single_character_change_fails_every_algorithm(alg: str, data: st.DataObject) -> None:
    text = signed(alg).decode()
    i = data.draw(st.integers(0, len(text) - 1), label="position")
    char = data.draw(st.characters().filter(lambda c: c != text[i]), label="character")
    _refused(text[:i] + char + text[i + 1 :], pool(alg))


# -- base64url -------------------------------------------------------------------------------


@PROPS
@given(text=st.text(alphabet=B64URL + "=+/ \n.", max_size=24))
def test_base64url_decoding_is_canonical(text: str) -> None:
    """Whatever decodes re-encodes to the very same text: no two texts mean the same bytes."""
    try:
        data = b64url_decode(text)
    except ValueError:
        in_alphabet = all(c in B64URL for c in text)
        if in_alphabet and len(text) % 4 != 1:  # refused only for non-zero trailing bits
            padded = text + "=" * (-len(text) % 4)
            assert b64url_encode(base64.urlsafe_b64decode(padded)) != text
        return
    assert b64url_encode(data) == text
    assert b64url_decode(text.encode()) == data


@PROPS
@given(
    data=st.binary(min_size=1, max_size=48),
    where=st.integers(0, 64),
    bad=st.sampled_from("=+/ \n\t.é"),
)
def test_base64url_refuses_padding_and_foreign_characters(
    data: bytes, where: int, bad: str
) -> None:
    text = b64url_encode(data)
    where = min(where, len(text))
    with pytest.raises(ValueError, match="base64url"):
        b64url_decode(text[:where] + bad + text[where:])
