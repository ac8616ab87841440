"""The public documents: JWK Sets and discovery served by the fast path (RFC 9110 semantics)."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import httpx
import pytest

from keywell import JWKSet
from keywell.issuer import Issuer
from keywell.jose.base64url import b64url_encode
from keywell.lifecycle import RotationPolicy
from keywell.server import KeywellServer
from keywell.server.fastpath import DocKind, match_public_path

from .conftest import BASE, bearer

pytestmark = pytest.mark.anyio


def directives(value: str) -> dict[str, str]:
    out = {}
    for part in value.split(","):
        name, _, arg = part.strip().partition("=")
        out[name] = arg
    return out


async def test_jwks_is_the_issuers_published_set_with_a_strong_etag(
    client: httpx.AsyncClient, issuer: Issuer
) -> None:
    r = await client.get("/.well-known/jwks.json")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    published = issuer.jwks("default")
    assert r.content == published.body
    digest = b64url_encode(hashlib.sha256(r.content).digest())
    assert r.headers["etag"] == f'"{digest}"' == published.etag
    assert int(r.headers["content-length"]) == len(r.content)
    assert r.headers["access-control-allow-origin"] == "*"
    assert "ETag" in r.headers["access-control-expose-headers"]
    assert r.headers["vary"] == "Accept"
    keys = JWKSet.from_json(r.content)
    assert len(keys) == 2  # the active key and its pending successor
    assert all(not k.is_private for k in keys)
    assert r.content == (await client.get("/keysets/default/jwks.json")).content


async def test_if_none_match_gets_304_without_body_and_with_validators(
    client: httpx.AsyncClient,
) -> None:
    first = await client.get("/.well-known/jwks.json")
    etag = first.headers["etag"]
    for inm in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        r = await client.get("/.well-known/jwks.json", headers={"If-None-Match": inm})
        assert r.status_code == 304, inm
        assert r.content == b""
        assert r.headers["etag"] == etag
        assert r.headers["cache-control"] == first.headers["cache-control"]
        assert r.headers["vary"] == "Accept"
    stale = await client.get("/.well-known/jwks.json", headers={"If-None-Match": '"stale"'})
    assert stale.status_code == 200
    assert stale.content == first.content


async def test_head_has_the_get_headers_and_no_body(client: httpx.AsyncClient) -> None:
    get = await client.get("/keysets/default/jwks.json")
    head = await client.head("/keysets/default/jwks.json")
    assert head.status_code == 200
    assert head.content == b""
    for name in ("etag", "cache-control", "content-type", "content-length", "vary"):
        assert head.headers[name] == get.headers[name]


async def test_jwk_set_media_type_on_request_with_its_own_validator(
    client: httpx.AsyncClient,
) -> None:
    plain = await client.get("/.well-known/jwks.json")
    typed = await client.get(
        "/.well-known/jwks.json", headers={"Accept": "application/jwk-set+json, */*;q=0.1"}
    )
    assert typed.headers["content-type"] == "application/jwk-set+json"
    assert typed.content == plain.content
    assert typed.headers["etag"] != plain.headers["etag"]
    again = await client.get(
        "/.well-known/jwks.json",
        headers={"Accept": "application/jwk-set+json", "If-None-Match": typed.headers["etag"]},
    )
    assert again.status_code == 304
    cross = await client.get(
        "/.well-known/jwks.json", headers={"If-None-Match": typed.headers["etag"]}
    )
    assert cross.status_code == 200


async def test_cache_control_follows_the_policy(
    client: httpx.AsyncClient, issuer: Issuer, server: KeywellServer
) -> None:
    policy = RotationPolicy(
        rotation_period=timedelta(hours=2),
        prepublish=timedelta(hours=1),
        jwks_max_age=timedelta(minutes=10),
    )
    issuer.create_keyset("svc", issuer="https://svc.test", policy=policy)
    await server.scheduler.refresh()
    r = await client.get("/keysets/svc/jwks.json")
    d = directives(r.headers["cache-control"])
    assert "public" in d
    assert int(d["max-age"]) == 600  # jwks_max_age, never more
    assert int(d["max-age"]) + int(d["stale-while-revalidate"]) <= 3600  # within prepublish
    assert int(d["stale-if-error"]) <= 3600
    assert r.headers["cache-control"] == issuer.jwks("svc").cache_control


async def test_policy_update_changes_the_served_max_age(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    body = {"rotation_period": 86400, "max_token_ttl": 600, "jwks_max_age": 300}
    r = await client.put(
        "/admin/v1/keysets/default/policy", json=body, headers=bearer(tokens["admin"])
    )
    assert r.status_code == 200, r.text
    served = await client.get("/.well-known/jwks.json")
    assert directives(served.headers["cache-control"])["max-age"] == "300"


async def test_cors_preflight_and_method_not_allowed(client: httpx.AsyncClient) -> None:
    pre = await client.options(
        "/.well-known/jwks.json",
        headers={"Origin": "https://app.test", "Access-Control-Request-Method": "GET"},
    )
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == "*"
    assert "GET" in pre.headers["access-control-allow-methods"]
    post = await client.post("/.well-known/jwks.json", content=b"{}")
    assert post.status_code == 405
    assert post.headers["allow"] == "GET, HEAD, OPTIONS"
    assert post.headers["content-type"] == "application/problem+json"


async def test_unknown_set_is_a_problem_404(client: httpx.AsyncClient) -> None:
    for path in (
        "/keysets/nope/jwks.json",
        "/keysets/nope/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server/keysets/nope",
    ):
        r = await client.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert problem["status"] == 404
        assert problem["code"] == "KW_KEYSET_NOT_FOUND"
        head = await client.head(path)
        assert head.status_code == 404
        assert head.content == b""


async def test_hmac_sets_are_never_published(
    client: httpx.AsyncClient, issuer: Issuer, server: KeywellServer
) -> None:
    issuer.create_keyset("internal", issuer="https://internal.test", alg="HS256")
    await server.scheduler.refresh()
    assert "internal" in server.state.registry.infos
    for path in (
        "/keysets/internal/jwks.json",
        "/keysets/internal/.well-known/openid-configuration",
    ):
        r = await client.get(path)
        assert r.status_code == 404
        assert b'"k"' not in r.content


async def test_discovery_documents(client: httpx.AsyncClient, issuer: Issuer) -> None:
    oidc = await client.get("/.well-known/openid-configuration")
    assert oidc.status_code == 200
    doc = oidc.json()
    assert doc["issuer"] == "https://issuer.test"
    assert doc["jwks_uri"] == f"{BASE}/.well-known/jwks.json"
    assert doc["id_token_signing_alg_values_supported"] == ["ES256"]
    assert oidc.headers["etag"].startswith('"')
    assert oidc.headers["cache-control"] == issuer.jwks("default").cache_control
    r = await client.get("/.well-known/oauth-authorization-server")
    assert r.status_code == 200
    assert json.loads(r.content) == doc
    nm = await client.get(
        "/.well-known/openid-configuration", headers={"If-None-Match": oidc.headers["etag"]}
    )
    assert nm.status_code == 304


async def test_the_default_set_has_no_per_set_document_unless_its_issuer_is_there(
    client: httpx.AsyncClient,
) -> None:
    """Its issuer is https://issuer.test, not {BASE}/keysets/default (test_discovery_here.py)."""
    r = await client.get("/keysets/default/.well-known/openid-configuration")
    assert (r.status_code, r.headers["content-type"]) == (404, "application/problem+json")


async def test_rotation_through_the_admin_api_changes_the_served_set(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    before = await client.get("/.well-known/jwks.json")
    r = await client.post(
        "/admin/v1/keysets/default/rotate",
        json={"emergency": True},
        headers=bearer(tokens["rotate"]),
    )
    assert r.status_code == 200, r.text
    active = r.json()["active_kid"]
    after = await client.get(
        "/.well-known/jwks.json", headers={"If-None-Match": before.headers["etag"]}
    )
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]
    assert active in {k.kid for k in JWKSet.from_json(after.content)}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/.well-known/jwks.json", ("dflt", DocKind.JWKS)),
        ("/.well-known/openid-configuration", ("dflt", DocKind.METADATA)),
        ("/.well-known/oauth-authorization-server", ("dflt", DocKind.METADATA)),
        ("/.well-known/oauth-authorization-server/keysets/a", ("a", DocKind.SET_METADATA)),
        ("/.well-known/oauth-authorization-server/keysets/a/b", None),
        ("/.well-known/oauth-authorization-server/keysets/", None),
        ("/keysets/a/jwks.json", ("a", DocKind.JWKS)),
        ("/keysets/a/.well-known/openid-configuration", ("a", DocKind.SET_METADATA)),
        ("/keysets/a/.well-known/oauth-authorization-server", ("a", DocKind.SET_METADATA)),
        ("/keysets//jwks.json", None),
        ("/keysets/a", None),
        ("/keysets/a/b/jwks.json", None),
        ("/admin/v1/keysets", None),
        ("/.well-known/other", None),
    ],
)
def test_public_path_matching(path: str, expected: tuple[str, DocKind] | None) -> None:
    got = match_public_path(path, "dflt")
    assert got == expected
    assert got is None or type(got[1]) is DocKind
