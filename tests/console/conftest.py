"""Fixtures for the console over HTTP: a real Issuer on SQLite, the app over httpx's ASGI transport.

The console is reached at ``http://127.0.0.1`` (plain http on loopback: the
one case where its cookie is not ``Secure``, so httpx's jar sends it back).
Keys are created with a clock three hours in the past, so the tests can sign
tokens that expired long ago with keys that are still active today.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from keywell.issuer import Issuer
from keywell.server import KeywellServer, ServerConfig, create_app
from keywell.store.kek import KEKRing

BASE = "http://127.0.0.1"
ISSUER = "https://issuer.console.test"
SCOPES = ("read", "sign", "rotate", "revoke", "admin", "metrics")
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "the page has no CSRF field"
    return found.group(1)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def keks() -> KEKRing:
    return KEKRing.generate()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'console.db'}"


@pytest.fixture
def past_issuer(db_url: str, keks: KEKRing) -> Iterator[Issuer]:
    """The store as it was three hours ago: sets created then, tokens signed then."""
    then = datetime.now(UTC) - timedelta(hours=3)
    iss = Issuer(db_url, keks=keks, clock=lambda: then, auto_upgrade=True)
    iss.create_keyset("default", issuer=ISSUER)
    iss.create_keyset("other", issuer=ISSUER + "/other", alg="EdDSA")
    yield iss
    iss.close()


@pytest.fixture
def issuer(db_url: str, keks: KEKRing, past_issuer: Issuer) -> Iterator[Issuer]:
    iss = Issuer(db_url, keks=keks)
    yield iss
    iss.close()


@pytest.fixture
def tokens(issuer: Issuer) -> dict[str, str]:
    """One admin token per single scope, keyed by scope."""
    return {s: issuer.create_admin_token([s], name=f"console-{s}") for s in SCOPES}


@pytest.fixture
def config() -> ServerConfig:
    return ServerConfig(public_url=BASE, tick_interval=0.2, poll_interval=0.1, auth_failure_limit=5)


@pytest.fixture
async def server(issuer: Issuer, config: ServerConfig) -> AsyncIterator[KeywellServer]:
    srv = create_app(issuer, config)
    async with srv.running():
        yield srv


@pytest.fixture
async def anon(server: KeywellServer) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client without a session (sends this origin on every request)."""
    transport = httpx.ASGITransport(app=server)
    async with httpx.AsyncClient(transport=transport, base_url=BASE, headers={"Origin": BASE}) as c:
        yield c


async def login(client: httpx.AsyncClient, secret: str) -> str:
    """Log ``client`` in with ``secret``; the session's CSRF token."""
    r = await client.post("/console/login", data={"token": secret})
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/console/keysets"
    page = await client.get("/console/keysets")
    assert page.status_code == 200
    return csrf_of(page.text)
