"""No answer of the server names the request's Host header in a redirect.

The Host header is the client's to choose; a framework slash redirect built
from it (``/healthz/`` → ``http://evil.test/healthz``) is a Host-header open
redirect and, cached by a proxy, a poisoning. A path with a trailing slash is
a path the server does not have (404), except under the console, whose own
slash redirects are relative (``tests/console/test_hostile.py``).
"""

from __future__ import annotations

import httpx
import pytest

from keywell.server import KeywellServer
from tests.server.conftest import bearer

pytestmark = pytest.mark.anyio

PATHS = [
    "/healthz/",
    "/readyz/",
    "/metrics/",
    "/.well-known/jwks.json/",
    "/.well-known/openid-configuration/",
    "/keysets/default/jwks.json/",
    "/admin/v1/keysets/",
    "/admin/v1/keysets/default/",
    "/admin/v1/admin-tokens/",
    "/admin/v1/openapi.json/",
    "/nothing/",
]


@pytest.mark.parametrize("path", PATHS)
async def test_no_redirect_names_the_host_header(
    server: KeywellServer, tokens: dict[str, str], path: str
) -> None:
    transport = httpx.ASGITransport(app=server)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
        for headers in ({}, bearer(tokens["admin"])):
            r = await c.get(path, headers={**headers, "Host": "evil.test"})
            assert "evil.test" not in r.headers.get("location", ""), (path, headers)
            assert r.status_code in (401, 404), (path, r.status_code)
