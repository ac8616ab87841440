"""Admin-token names through the admin API: the Issuer's label rule, on SQLite and PostgreSQL.

A NUL (or another control character, or a lone surrogate) in a token name
reached PostgreSQL raw and answered 500; it is a 422 problem naming the
field, on both stores, and nothing is written.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from keywell.issuer import Issuer
from keywell.server import ServerConfig, create_app
from keywell.store.kek import KEKRing
from tests.store.pgutil import fresh_database

from .conftest import BASE, bearer

pytestmark = pytest.mark.anyio
HOSTILE = ["\x00", "a\x00b", "\u202e", "line\nbreak", "\ud800", "x" * 201]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_issuer(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Issuer]:
    def make(url: str) -> Issuer:
        return Issuer(url, keks=KEKRing.generate(), auto_upgrade=True)

    if request.param == "sqlite":
        issuer = make(f"sqlite:///{tmp_path / 'kw.db'}")
        yield issuer
        issuer.close()
    else:
        with fresh_database() as url:
            issuer = make(url)
            yield issuer
            issuer.close()


@pytest.fixture
async def admin_client(store_issuer: Issuer) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(store_issuer, ServerConfig(public_url=BASE))
    async with app.running():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            yield client


async def test_hostile_token_names_are_422(
    admin_client: httpx.AsyncClient, store_issuer: Issuer
) -> None:
    admin = bearer(store_issuer.create_admin_token(["admin"], name="root"))
    for name in HOSTILE:
        body = json.dumps({"scopes": ["read"], "name": name})  # \u escapes, surrogates too
        r = await admin_client.post(
            "/admin/v1/admin-tokens",
            content=body.encode(),
            headers={**admin, "Content-Type": "application/json"},
        )
        assert r.status_code == 422, (repr(name), r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert [t.name for t in store_issuer.list_admin_tokens()] == ["root"]
    ok = await admin_client.post(
        "/admin/v1/admin-tokens", json={"scopes": ["read"], "name": "ci deploy"}, headers=admin
    )
    assert ok.status_code == 201
