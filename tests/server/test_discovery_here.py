"""A per-set discovery document is served only under its issuer (issue 12 item 6).

OpenID Connect Discovery 1.0 section 4.3 and RFC 8414 section 3.3: the
``issuer`` of a metadata document must be the URL it was fetched under, less
the well-known part, or the client refuses it. ``/keysets/{name}/.well-known/...``
(and RFC 8414's ``/.well-known/oauth-authorization-server/keysets/{name}``)
therefore answer 200 only for a set whose issuer is ``{public_url}/keysets/{name}``,
and a 404 problem for every other set; the JWKS stays published. The members
of the kind tried: an issuer elsewhere, the server's root, another set's
path, a deeper path, another scheme, a trailing slash; and the client's own
discovery of each.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from keywell.issuer import Issuer
from keywell.server import ServerConfig, create_app
from keywell.store.kek import KEKRing

PUBLIC = "https://keys.test"
PER_SET = (
    "/keysets/{}/.well-known/openid-configuration",
    "/keysets/{}/.well-known/oauth-authorization-server",
    "/.well-known/oauth-authorization-server/keysets/{}",
)
HERE = {"here": f"{PUBLIC}/keysets/here", "slash": f"{PUBLIC}/keysets/slash/"}
ELSEWHERE = {
    "ext": "https://id.example",
    "root": PUBLIC,
    "other": f"{PUBLIC}/keysets/here",
    "deeper": f"{PUBLIC}/keysets/deeper/x",
    "scheme": "http://127.0.0.1/keysets/scheme",
    "prefix": f"{PUBLIC}/keysets/prefix2",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def issuer(tmp_path: Path) -> Iterator[Issuer]:
    iss = Issuer(f"sqlite:///{tmp_path / 'kw.db'}", keks=KEKRing.generate(), auto_upgrade=True)
    for name, url in {**HERE, **ELSEWHERE}.items():
        iss.create_keyset(name, issuer=url)
    yield iss
    iss.close()


@pytest.fixture
async def client(issuer: Issuer) -> AsyncIterator[httpx.AsyncClient]:
    srv = create_app(issuer, ServerConfig(public_url=PUBLIC, default_keyset="root"))
    async with srv.running():
        transport = httpx.ASGITransport(app=srv)
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as c:
            yield c


@pytest.mark.anyio
async def test_served_under_its_issuer_only(client: httpx.AsyncClient) -> None:
    for name, url in HERE.items():
        for path in PER_SET:
            r = await client.get(path.format(name))
            assert r.status_code == 200, (name, path)
            assert r.json()["issuer"] == url
            assert r.json()["jwks_uri"] == f"{PUBLIC}/keysets/{name}/jwks.json"
    for name in ELSEWHERE:
        for path in PER_SET:
            for method in ("GET", "HEAD"):
                r = await client.request(method, path.format(name))
                assert r.status_code == 404, (name, path, method)
                assert r.headers["content-type"] == "application/problem+json"
        assert (await client.get(f"/keysets/{name}/jwks.json")).status_code == 200
    root = await client.get("/.well-known/openid-configuration")  # the default set's, as before
    assert (root.status_code, root.json()["issuer"]) == (200, PUBLIC)
