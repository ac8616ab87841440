"""A parsed header is cached by its encoded form, so nothing handed out may change it.

``parse_header`` keeps one parsed header per encoded segment (tokens from one
issuer share a handful of headers; a DPoP client sends one header with every
proof). Whatever a caller does to the header it is given (``jws.verify``,
``check_proof``), the next verification of a token with that header must see
the header as it was signed: nested members (``crit``, ``jwk``, ``x5c``, any
object or array) are read-only too. A caller that "ticks off" the critical
parameters it handled must not switch the ``crit`` check off for everyone.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keywell import JWK, Verifier, errors, jws
from keywell.jose import DPoPPolicy, check_proof
from keywell.jose._compact import compact
from keywell.jose._frozen import freeze_members, thaw
from keywell.jose.base64url import b64url_encode
from tests.jose.dpop_helpers import CLIENT, NOW, TOKEN, URI, good_proof

KEY = JWK.generate("ES256", kid="k")


def _token(header: dict[str, Any]) -> str:
    _, signer = KEY.signer("ES256")
    segment = b64url_encode(json.dumps({"alg": "ES256", "kid": "k", **header}).encode())
    return compact(segment, json.dumps({"sub": "a", "exp": 4_000_000_000}).encode(), signer)


# Every way a caller could try to change a nested member in place.
MUTATIONS: dict[str, Callable[[Any], None]] = {
    "clear": lambda v: v.clear(),
    "pop": lambda v: v.pop(),
    "append": lambda v: v.append("x"),
    "setitem": lambda v: v.__setitem__(0 if isinstance(v, list | tuple) else "x", "y"),
    "delitem": lambda v: v.__delitem__(0 if isinstance(v, list | tuple) else "crv"),
    "update": lambda v: v.update({"crv": "P-384"}),
}


def _mutate(value: Any, how: str) -> None:
    with contextlib.suppress(AttributeError, TypeError, KeyError, IndexError):
        MUTATIONS[how](value)


@pytest.mark.parametrize("how", sorted(MUTATIONS))
def test_a_handled_crit_ticked_off_by_one_caller_still_binds_the_next(how: str) -> None:
    token = _token({"crit": ["x-ext"], "x-ext": 1})
    header = jws.verify(token, KEY.public(), crit=["x-ext"]).header
    _mutate(header["crit"], how)
    strict = Verifier(KEY.public(), issuer=None, audience=None, cache_size=0)
    with pytest.raises(errors.InvalidHeaderError) as info:
        strict.verify(token)
    assert info.value.member == "crit"
    assert list(jws.verify(token, KEY.public(), crit=["x-ext"]).header["crit"]) == ["x-ext"]


@pytest.mark.parametrize("how", sorted(MUTATIONS))
@pytest.mark.parametrize("member", ["crit", "x5c", "x-obj", "x-list"])
def test_nested_header_members_handed_out_stay_as_signed(how: str, member: str) -> None:
    extra: dict[str, Any] = {
        "crit": {"crit": ["x-ext"], "x-ext": 1},
        "x5c": {"x5c": ["AAAA", "BBBB"]},
        "x-obj": {"x-obj": {"a": [1, 2], "crv": "P-256"}},
        "x-list": {"x-list": [{"a": 1}, [2]]},
    }[member]
    token = _token(extra)
    first = jws.verify(token, KEY.public(), crit=["x-ext"]).header
    _mutate(first[member], how)
    for inner in first[member].values() if hasattr(first[member], "values") else first[member]:
        _mutate(inner, how)
    again = jws.verify(token, KEY.public(), crit=["x-ext"]).header
    assert json.loads(json.dumps(again[member], default=_plain)) == extra[member]


def _plain(value: Any) -> Any:
    return dict(value) if hasattr(value, "items") else list(value)


@pytest.mark.parametrize("how", sorted(MUTATIONS))
def test_a_dpop_proof_header_handed_out_stays_as_signed(how: str) -> None:
    policy = DPoPPolicy()
    proof = check_proof(
        good_proof(), method="GET", uri=URI, policy=policy, now=NOW, access_token=TOKEN
    )
    _mutate(proof.header["jwk"], how)
    again = check_proof(
        good_proof(), method="GET", uri=URI, policy=policy, now=NOW, access_token=TOKEN
    )
    public = {k: v for k, v in CLIENT.public().to_dict().items() if k != "kid"}
    assert dict(again.header["jwk"]) == public
    assert again.jkt == CLIENT.thumbprint()


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=20,
)


def _containers(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return [value, *(c for v in value.values() for c in _containers(v))]
    if isinstance(value, tuple | list):
        return [value, *(c for v in value for c in _containers(v))]
    return []


@given(st.dictionaries(st.text(max_size=6), _JSON, max_size=6))
@settings(max_examples=200, deadline=None)
def test_a_frozen_object_has_no_mutable_container_and_thaws_back(obj: dict[str, Any]) -> None:
    frozen = freeze_members(dict(obj))
    assert not any(type(c) is dict or type(c) is list for c in _containers(frozen))
    assert thaw(frozen) == obj


@pytest.mark.parametrize(
    "member", [("x5c", ["AAAA", "BBBB"]), ("x-obj", {"a": [1]}), ("x-list", [{"a": 1}])]
)
def test_a_jwk_shares_no_mutable_member_with_its_source_or_its_output(
    member: tuple[str, Any],
) -> None:
    """A JWK is immutable (the verified-token cache relies on it): no list or object leaks."""
    name, value = member
    source = {**KEY.public().to_dict(), name: json.loads(json.dumps(value))}
    key = JWK.from_dict(source)
    before = (key.to_dict(), key.extra)
    for how in sorted(MUTATIONS):
        _mutate(source[name], how)
        _mutate(key.to_dict().get(name), how)
        _mutate(key.extra[name], how)
    assert (key.to_dict(), key.extra) == before
    assert key.extra[name] == value
    assert key == JWK.from_dict({**KEY.public().to_dict(), name: value})
    json.dumps(key.to_dict())  # still plain JSON
    json.dumps(dict(key.extra))
