"""Admin request rules: strict bodies, JSON media type, and no token a verifier would refuse.

Issue 11 areas 2 and 3, the in-process half (a real Issuer on a real SQLite
file behind the ASGI app): ``{"emergency": "yes"}`` and ``"ttl": true`` are
422, a body that is not ``application/json`` is 415 on every JSON route (the
raw-ASGI mint path included), mint claims whose registered members have the
wrong JSON type, an ``nbf`` at or after ``exp``, or a token longer than the
default verifier's ``max_size`` are refused, each with its problem type.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from keywell import JWKSet, Verifier
from keywell.jose.jws import DEFAULT_MAX_TOKEN_SIZE

from .conftest import bearer

pytestmark = pytest.mark.anyio

MINT = "/admin/v1/keysets/default/tokens"
# (route, body): every admin route that takes a JSON body
JSON_ROUTES = [
    ("POST", "/admin/v1/keysets", {"name": "x", "issuer": "https://issuer.test"}),
    ("PUT", "/admin/v1/keysets/default/policy", {}),
    ("POST", "/admin/v1/keysets/default/rotate", {"emergency": False}),
    ("POST", "/admin/v1/keysets/default/keys/no-such-kid/revoke", {"reason": "test"}),
    ("POST", MINT, {"claims": {}}),
]

NOT_STRICT: list[tuple[str, str, dict[str, Any], list[str]]] = [
    ("POST", "/admin/v1/keysets/default/rotate", {"emergency": "yes"}, ["emergency"]),
    ("POST", "/admin/v1/keysets/default/rotate", {"emergency": 1}, ["emergency"]),
    ("POST", MINT, {"ttl": True}, ["ttl"]),
    ("POST", MINT, {"ttl": "60"}, ["ttl"]),
    ("POST", MINT, {"ttl": 60.5}, ["ttl"]),
    ("POST", MINT, {"claims": []}, ["claims"]),
    ("PUT", "/admin/v1/keysets/default/policy", {"rotation_period": True}, ["rotation_period"]),
    ("PUT", "/admin/v1/keysets/default/policy", {"clock_skew": "60"}, ["clock_skew"]),
    ("POST", "/admin/v1/keysets", {"name": "n", "issuer": "https://i.test", "alg": 1}, ["alg"]),
    ("POST", "/admin/v1/keysets", {"name": 7, "issuer": "https://i.test"}, ["name"]),
    ("POST", "/admin/v1/keysets/default/keys/k/revoke", {"reason": 5}, ["reason"]),
    ("POST", "/admin/v1/keysets/default/rotate", {"emergency": True, "x": 1}, ["x"]),
]


@pytest.mark.parametrize(("method", "path", "body", "loc"), NOT_STRICT)
async def test_admin_bodies_are_strict(
    client: httpx.AsyncClient,
    tokens: dict[str, str],
    method: str,
    path: str,
    body: dict[str, Any],
    loc: list[str],
) -> None:
    r = await client.request(method, path, json=body, headers=bearer(tokens["admin"]))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == "urn:keywell:problem:invalid_request"
    assert r.json()["errors"][0]["loc"][:2] == ["body", *loc]


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/jsonp", None],
)
@pytest.mark.parametrize(
    ("method", "path", "body"), JSON_ROUTES, ids=[p for _, p, _ in JSON_ROUTES]
)
async def test_json_routes_require_application_json(
    client: httpx.AsyncClient,
    tokens: dict[str, str],
    method: str,
    path: str,
    body: dict[str, Any],
    content_type: str | None,
) -> None:
    headers = bearer(tokens["admin"])
    if content_type is not None:
        headers["Content-Type"] = content_type
    r = await client.request(method, path, content=json.dumps(body).encode(), headers=headers)
    assert r.status_code == 415, r.text
    assert r.json()["type"] == "urn:keywell:problem:unsupported_media_type"
    assert r.headers["accept-post"] == "application/json"


async def test_json_with_a_charset_parameter_is_json(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    r = await client.post(
        MINT,
        content=b'{"claims": {"sub": "a"}}',
        headers={**bearer(tokens["sign"]), "Content-Type": "Application/JSON; charset=utf-8"},
    )
    assert r.status_code == 201, r.text


BAD_CLAIMS = [
    {"nbf": "tomorrow"},
    {"nbf": True},
    {"nbf": None},
    {"nbf": 2**60},
    {"nbf": [1]},
    {"sub": 5},
    {"sub": None},
    {"aud": 5},
    {"aud": []},
    {"aud": ["a", 1]},
    {"iss": None},
    {"cnf": "key"},
]


@pytest.mark.parametrize("claims", BAD_CLAIMS, ids=[json.dumps(c) for c in BAD_CLAIMS])
async def test_registered_claims_of_the_wrong_type_are_not_minted(
    client: httpx.AsyncClient, tokens: dict[str, str], claims: dict[str, Any]
) -> None:
    """The Issuer's own rule (keywell.issuer.signing.check_minted): a claim problem naming it."""
    r = await client.post(MINT, json={"claims": claims}, headers=bearer(tokens["sign"]))
    assert r.status_code == 422, r.text
    assert r.json()["type"] == "urn:keywell:problem:claim_invalid"
    assert r.json()["claim"] == next(iter(claims))


async def test_nbf_is_validated_like_exp(client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    """An nbf at or after the token's exp would never be valid; before it, it is minted."""

    now = int(time.time())
    for nbf in (now + 61, now + 10**9):
        r = await client.post(
            MINT, json={"claims": {"nbf": nbf}, "ttl": 60}, headers=bearer(tokens["sign"])
        )
        assert r.status_code == 422, r.text
        assert r.json()["type"] == "urn:keywell:problem:claim_invalid"
        assert r.json()["claim"] == "nbf"
    r = await client.post(
        MINT,
        json={"claims": {"nbf": now - 5, "aud": "api"}, "ttl": 60},
        headers=bearer(tokens["sign"]),
    )
    assert r.status_code == 201, r.text
    keys = JWKSet.from_json((await client.get("/keysets/default/jwks.json")).content)
    assert Verifier(keys, issuer="https://issuer.test", audience="api").verify(r.json()["token"])


async def test_a_token_larger_than_verifiers_accept_is_not_minted(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    keys = JWKSet.from_json((await client.get("/keysets/default/jwks.json")).content)
    verifier = Verifier(keys, issuer="https://issuer.test", audience=None)
    # the largest padding that still mints verifies; 1 kB more is refused
    fits = await client.post(
        MINT, json={"claims": {"pad": "p" * 11_500}}, headers=bearer(tokens["sign"])
    )
    assert fits.status_code == 201, fits.text
    assert len(fits.json()["token"]) <= DEFAULT_MAX_TOKEN_SIZE
    verifier.verify(fits.json()["token"])
    for pad in (12_500, 40_000):
        r = await client.post(
            MINT, json={"claims": {"pad": "p" * pad}}, headers=bearer(tokens["sign"])
        )
        assert r.status_code == 422, r.text
        assert r.json()["type"] == "urn:keywell:problem:token_too_large"
        assert "ppppp" not in r.text


MALFORMED = {
    "deep_nesting": b"[" * 30_000 + b"]" * 30_000,
    "deep_member": b'{"claims": {"a": ' + b"[" * 3000 + b"]" * 3000 + b"}}",
    "bom": b'\xef\xbb\xbf{"emergency": false}',
    "nan": b'{"claims": {"a": NaN}}',
    "lone_surrogate": b'{"reason": "\\ud800", "name": "\\udfff"}',
    "not_utf8": b'{"reason": "\xff\xfe"}',
    "truncated": b'{"claims": {',
    "trailing": b"{} {}",
    # duplicate member names: a proxy reading the first and keywell the last would
    # disagree about what was asked (the attacker got an admin token this way)
    "duplicate_top": b'{"reason": "a", "reason": "b"}',
    "duplicate_scopes": b'{"scopes": ["read"], "scopes": ["admin"]}',
    "duplicate_nested": b'{"claims": {"sub": "a", "sub": "b"}}',
    "duplicate_escaped": rb'{"claims": {"aud": "x", "\u0061ud": "y"}}',
    "not_an_object": b'["claims"]',
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
@pytest.mark.parametrize(("method", "path", "_"), JSON_ROUTES, ids=[p for _, p, _ in JSON_ROUTES])
async def test_malformed_json_is_one_422_on_every_route(
    client: httpx.AsyncClient,
    tokens: dict[str, str],
    method: str,
    path: str,
    _: object,
    body: bytes,
) -> None:
    headers = {**bearer(tokens["admin"]), "Content-Type": "application/json"}
    r = await client.request(method, path, content=body, headers=headers)
    assert r.status_code == 422, r.text
    assert r.json()["type"] == "urn:keywell:problem:invalid_request"
    assert r.json()["errors"][0] == {"loc": ["body"], "type": "json_invalid"}
