"""Admin API: HEAD behaves like GET without content; the schema declares every problem status.

HEAD on an admin GET route was 405 (FastAPI declares GET only); the guard now
serves it as GET and drops the content (RFC 9110 section 9.3.2), with the same
status, authentication and scope rules. The OpenAPI schema lists the 408,
413, 415 and 429 problems the guard and the limits answer on every route, so
Schemathesis accepts them.
"""

from __future__ import annotations

import httpx
import pytest

from keywell.server.guard import ADMIN_PREFIX, OPENAPI_PATH, ROUTE_SCOPES

from .conftest import bearer

pytestmark = pytest.mark.anyio


def _concrete(template: str) -> str:
    return template.replace("{name}", "default")


async def test_head_is_get_without_content_on_every_admin_get_route(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    routes = sorted(path for (method, path) in ROUTE_SCOPES if method == "GET")
    assert len(routes) >= 4  # keysets, one set, its keys, the audit log (admin tokens too)
    for template in [*routes, OPENAPI_PATH]:
        path = _concrete(template)
        get = await client.get(path, headers=bearer(tokens["admin"]))
        head = await client.head(path, headers=bearer(tokens["admin"]))
        assert head.status_code == get.status_code != 405, path
        assert head.content == b""
        assert head.headers["content-type"] == get.headers["content-type"]
        assert head.headers["content-length"] == get.headers["content-length"]
    unauthenticated = await client.head(f"{ADMIN_PREFIX}/keysets")
    assert (unauthenticated.status_code, unauthenticated.content) == (401, b"")
    wrong_scope = await client.head(f"{ADMIN_PREFIX}/keysets", headers=bearer(tokens["sign"]))
    assert wrong_scope.status_code == 403


async def test_the_schema_declares_the_guard_and_limit_problems(client: httpx.AsyncClient) -> None:
    schema = (await client.get(OPENAPI_PATH)).json()
    operations = [
        (path, method, op)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if method in ("get", "post", "put", "delete", "patch")
    ]
    assert operations
    for path, method, op in operations:
        for status in ("401", "403", "408", "413", "415", "422", "429"):
            assert status in op["responses"], (method, path, status)
            assert "application/problem+json" in op["responses"][status]["content"]
        assert "Retry-After" in op["responses"]["429"]["headers"]
