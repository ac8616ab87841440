"""Issue 10 Kind A: a registered member of the wrong JSON type is refused, never read as absent.

The table (tests/jose/member_types.py) runs through ``Verifier.verify``,
``Verifier.averify`` and ``jwt.decode``; the integrations run it too
(tests/integrations/test_member_types.py). A hypothesis test then signs
arbitrary header and payload objects with the trusted key: only typed errors
or accepted claims may come out.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keywell import (
    JWK,
    ClaimError,
    InvalidHeaderError,
    InvalidKeyError,
    JWKSet,
    KeywellError,
    MalformedTokenError,
    MissingClaimError,
    Verifier,
    jwt,
)
from keywell.jose._compact import compact
from keywell.jose.base64url import b64url_encode
from keywell.jose.registered import CLAIM_TYPES, HEADER_TYPES
from tests.jose.member_types import (
    AUD,
    CASE_IDS,
    CASES,
    CLAIMS,
    HEADER_MEMBERS,
    ISS,
    KEY,
    KEYS,
    NOW,
    VALUES,
    expected,
    forge,
    token_for,
)


def _verifier(**kw: Any) -> Verifier:
    return Verifier(KEYS, issuer=ISS, audience=AUD, clock=lambda: NOW, **kw)


def _sync(token: str) -> Mapping[str, Any]:
    return _verifier().verify(token)


def _async(token: str) -> Mapping[str, Any]:
    return asyncio.run(_verifier().averify(token))


def _decode(token: str) -> Mapping[str, Any]:
    return jwt.decode(token, KEYS, issuer=ISS, audience=AUD, now=NOW)


PATHS: dict[str, Callable[[str], Mapping[str, Any]]] = {
    "verify": _sync,
    "averify": _async,
    "jwt.decode": _decode,
}


def test_the_table_covers_every_registered_member() -> None:
    assert set(HEADER_MEMBERS) == set(HEADER_TYPES)
    assert set(CLAIMS) == set(CLAIM_TYPES)
    assert set(CLAIMS) >= {"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize(("where", "member", "label"), CASES, ids=CASE_IDS)
def test_member_type_table(path: str, where: str, member: str, label: str) -> None:
    token = token_for(where, member, label)
    want = expected(where, member, label)
    if want is None:
        claims = PATHS[path](token)
        assert claims[member] == VALUES[label] if where == "claim" else claims["sub"] == "alice"
        return
    cls, attrs = want
    with pytest.raises(KeywellError) as info:
        PATHS[path](token)
    assert type(info.value) is cls, f"{type(info.value).__name__}: {info.value}"
    assert info.value.code == cls.code
    for name, value in attrs.items():
        assert getattr(info.value, name) == value
    text = str(info.value)
    assert "y" * 100 not in text  # a 10,000-character value is never echoed whole


# -- the inputs of the issue and the other members of the kind -----------------------------


def _claims(**extra: Any) -> dict[str, Any]:
    return {"iss": ISS, "aud": AUD, "sub": "u", "exp": NOW + 60, **extra}


def _refused(token: str, cls: type[KeywellError], **kw: Any) -> KeywellError:
    with pytest.raises(KeywellError) as info:
        _verifier(**kw).verify(token)
    assert type(info.value) is cls, f"{type(info.value).__name__}: {info.value}"
    return info.value


def test_exp_null_under_required_exp_is_missing() -> None:
    error = _refused(jwt.encode(_claims(exp=None), KEY), MissingClaimError)
    assert isinstance(error, ClaimError)
    assert error.claim == "exp"


def test_iat_null_under_max_age_is_missing() -> None:
    error = _refused(jwt.encode(_claims(iat=None), KEY), MissingClaimError, max_age=60)
    assert isinstance(error, ClaimError)
    assert error.claim == "iat"


def test_exp_null_when_not_required_is_a_type_error() -> None:
    error = _refused(jwt.encode(_claims(exp=None), KEY), ClaimError, required=())
    assert isinstance(error, ClaimError)
    assert (error.claim, error.reason) == ("exp", "type")


@pytest.mark.parametrize(
    ("claim", "raw", "cls"),
    [
        ("exp", "1e309", ClaimError),  # parses to infinity
        ("exp", "-1e309", ClaimError),
        ("exp", str(2**53 + 1), ClaimError),
        ("nbf", str(-(2**53) - 1), ClaimError),
        ("iat", "1" * 4000, ClaimError),  # a huge int, within Python's digit limit
        ("exp", "1" * 5000, MalformedTokenError),  # beyond it: not JSON we parse
        ("exp", "true", ClaimError),  # bool is an int in Python, not a JSON number
        ("aud", '["api", null]', ClaimError),
        ("aud", '["api", 1]', ClaimError),
        ("aud", '[["api"]]', ClaimError),
        ("cnf", '"x"', ClaimError),
        ("sub", '{"a": 1}', ClaimError),
    ],
)
def test_other_members_of_the_kind(claim: str, raw: str, cls: type[KeywellError]) -> None:
    body = json.dumps({k: v for k, v in _claims().items() if k != claim})
    payload = body[:-1] + f', "{claim}": {raw}}}'
    _, signer = KEY.signer("ES256")
    header = b64url_encode(b'{"alg":"ES256","kid":"k1"}')
    error = _refused(compact(header, payload.encode(), signer), cls, required=())
    if isinstance(error, ClaimError):
        assert (error.claim, error.reason) == (claim, "type")


@pytest.mark.parametrize(
    ("header", "member"),
    [
        ('{"alg":"ES256","kid":"k1","kid":"k1"}', None),  # duplicate members
        ('{"alg":"ES256","kid":"k1","crit":["urn:x"]}', "crit"),  # names a missing member
        ('{"alg":"ES256","kid":"k1","crit":["urn:x"],"urn:x":1}', "crit"),  # not understood
        ('{"alg":"ES256","kid":"k1","crit":["kid"]}', "crit"),  # a registered parameter
        ('{"alg":"ES256","kid":"k1","crit":["x5c"],"x5c":["AA"]}', "crit"),
        ('{"alg":"ES256","kid":"k1","b64":false,"crit":["b64"]}', "b64"),
        ('{"alg":"ES256","kid":"k1","b64":true,"crit":["b64"]}', "crit"),  # not understood
        ('{"alg":"ES256","kid":"k1","x5c":["AA", 1]}', "x5c"),
        ('{"alg":"ES256","kid":["k1"]}', "kid"),
        ('{"alg":["ES256"],"kid":"k1"}', "alg"),
        ('{"kid":"k1"}', "alg"),
    ],
)
def test_header_members_of_the_kind(header: str, member: str | None) -> None:
    _, signer = KEY.signer("ES256")
    token = compact(b64url_encode(header.encode()), json.dumps(_claims()).encode(), signer)
    cls = MalformedTokenError if member is None else InvalidHeaderError
    error = _refused(token, cls)
    if member is not None:
        assert isinstance(error, InvalidHeaderError)
        assert error.member == member


class _CountingKeys:
    """A key source that counts lookups: header errors come before any of them."""

    def __init__(self) -> None:
        self.lookups = 0

    def candidates(self, kid: str | None, alg: str) -> tuple[Any, ...]:
        self.lookups += 1
        return KEYS.candidates(kid, alg)


@pytest.mark.parametrize("member", [m for m in HEADER_MEMBERS if m != "b64"])
def test_header_type_errors_come_before_any_key_lookup(member: str) -> None:
    keys = _CountingKeys()
    header = {"alg": "ES256", "kid": "k1", member: 1}
    with pytest.raises(InvalidHeaderError):
        Verifier(keys, issuer=ISS, audience=AUD).verify(forge(header, _claims()))
    assert keys.lookups == 0


def test_deeply_nested_json_is_a_typed_error() -> None:
    payload = '{"iss": "' + ISS + '", "x": ' + "[" * 5000 + "]" * 5000 + "}"
    _, signer = KEY.signer("ES256")
    header = b64url_encode(b'{"alg":"ES256","kid":"k1"}')
    _refused(compact(header, payload.encode(), signer), MalformedTokenError, max_size=64_000)


# -- hypothesis: arbitrary members and values, signed with the trusted key -----------------

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_HEADER_NAMES = st.sampled_from([*HEADER_MEMBERS, "urn:x", "zip", "enc"]) | st.text(max_size=6)
_CLAIM_NAMES = st.sampled_from([*CLAIMS, "scope", "scp"]) | st.text(max_size=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    header=st.dictionaries(_HEADER_NAMES, _JSON, max_size=5),
    claims=st.dictionaries(_CLAIM_NAMES, _JSON, max_size=6),
    base=st.booleans(),
)
def test_arbitrary_objects_give_typed_errors_or_claims(
    header: dict[str, Any], claims: dict[str, Any], base: bool
) -> None:
    if base:  # mostly well-formed, so the claim checks are reached too
        header = {"alg": "ES256", "kid": "k1", **header}
        claims = {**_claims(), **claims}
    token = forge(header, claims)
    for path in (_sync, _async):
        try:
            result = path(token)
        except KeywellError:
            continue
        assert dict(result) == claims


@pytest.mark.parametrize("member", ["kid", "alg", "use", "key_ops"])
@pytest.mark.parametrize("label", ["null", "false", "0", "{}", "[null]"])
def test_jwk_metadata_of_the_wrong_type_is_not_absent(member: str, label: str) -> None:
    """The same kind in a JWK: ``"key_ops": null`` must not read as "every operation"."""
    members = {**KEY.public().to_dict(), member: VALUES[label]}
    with pytest.raises(InvalidKeyError, match=f'"{member}"'):
        JWK.from_dict(members)
    keys = JWKSet.from_dict({"keys": [members]})
    assert len(keys) == 0
    assert [s.code for s in keys.skipped] == ["KW_INVALID_KEY"]
