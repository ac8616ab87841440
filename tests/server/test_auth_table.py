"""Every admin route refuses a missing token (401), a bad token (401) and a wrong scope (403)."""

from __future__ import annotations

import re

import httpx
import pytest

from keywell.server import KeywellServer
from keywell.server.guard import OPENAPI_PATH, ROUTE_SCOPES

from .conftest import SCOPES, bearer

pytestmark = pytest.mark.anyio

BAD_SECRET = "kwa_" + "Zm9yZ2VkLXNlY3JldC10aGF0LW11c3Qtbm90LWJlLWVjaG9lZA"


def concrete(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "default", template)


async def routes(client: httpx.AsyncClient) -> list[tuple[str, str, str]]:
    """(method, path template, required scope) for every operation in the served schema."""
    schema = (await client.get(OPENAPI_PATH)).json()
    out = []
    for template, item in schema["paths"].items():
        for method, op in item.items():
            out.append((method.upper(), template, op["x-required-scope"]))
    return sorted(out)


async def test_the_schema_and_the_guard_declare_the_same_routes(
    client: httpx.AsyncClient, server: KeywellServer
) -> None:
    declared = await routes(client)
    assert len(declared) >= 9
    assert {(m, t): s for m, t, s in declared} == ROUTE_SCOPES
    api_routes = {
        (m, r.path)
        for r in server.api.routes
        if getattr(r, "path", "").startswith("/admin/v1/") and r.path != OPENAPI_PATH
        for m in getattr(r, "methods", ())
    }
    assert api_routes <= set(ROUTE_SCOPES)


def assert_refused(r: httpx.Response, status: int, secret: str | None) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == status
    assert r.headers["www-authenticate"].startswith("Bearer")
    if secret is not None:
        assert secret not in r.text
        assert all(secret not in v for v in r.headers.values())


async def test_every_admin_route_refuses_missing_bad_and_underscoped_tokens(
    client: httpx.AsyncClient, tokens: dict[str, str], server: KeywellServer
) -> None:
    checked = 0
    for method, template, needed in await routes(client):
        path = concrete(template)
        body = b"{}" if method in ("POST", "PUT") else None

        async def call(
            headers: dict[str, str], m: str = method, p: str = path, b: bytes | None = body
        ) -> httpx.Response:
            return await client.request(m, p, content=b, headers=headers)

        assert_refused(await call({}), 401, None)
        assert_refused(await call({"Authorization": "Basic dXNlcjpwYXNz"}), 401, None)
        assert_refused(await call(bearer(BAD_SECRET)), 401, BAD_SECRET)
        assert_refused(await call(bearer("not-even-a-keywell-token")), 401, None)
        wrong = [s for s in SCOPES if s not in (needed, "admin")]
        assert wrong
        for scope in wrong:
            r = await call(bearer(tokens[scope]))
            assert_refused(r, 403, tokens[scope])
            assert r.json()["required_scope"] == needed
        checked += 1
    assert checked == len(ROUTE_SCOPES)
    failures = server.state.metrics.auth_failures
    assert failures["missing"] == 2 * checked
    assert failures["invalid"] == 2 * checked
    assert failures["scope"] >= 3 * checked


async def test_the_right_scope_and_admin_pass_the_guard(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    for method, template, needed in await routes(client):
        path = concrete(template)
        body = b"{}" if method in ("POST", "PUT") else None
        for scope in {needed, "admin"}:
            r = await client.request(method, path, content=body, headers=bearer(tokens[scope]))
            assert r.status_code not in (401, 403), (method, path, scope, r.text)


async def test_unknown_admin_paths_are_hidden_from_non_admin_tokens(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    r = await client.get("/admin/v1/secrets", headers=bearer(tokens["read"]))
    assert r.status_code == 403
    r = await client.get("/admin/v1/secrets", headers=bearer(tokens["admin"]))
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert (await client.get("/admin/v1/secrets")).status_code == 401
