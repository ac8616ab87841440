"""Fixtures for the key server: a real Issuer on SQLite, the app over httpx ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from keywell.issuer import Issuer
from keywell.server import KeywellServer, ServerConfig, create_app
from keywell.store.kek import KEKRing

BASE = "http://keywell.test"
SCOPES = ("read", "sign", "rotate", "revoke", "admin")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def issuer(tmp_path: Path) -> Iterator[Issuer]:
    iss = Issuer(f"sqlite:///{tmp_path / 'kw.db'}", keks=KEKRing.generate(), auto_upgrade=True)
    iss.create_keyset("default", issuer="https://issuer.test")
    yield iss
    iss.close()


@pytest.fixture
def tokens(issuer: Issuer) -> dict[str, str]:
    """One admin token per single scope, keyed by scope."""
    return {s: issuer.create_admin_token([s], name=f"test-{s}") for s in SCOPES}


@pytest.fixture
def config() -> ServerConfig:
    return ServerConfig(public_url=BASE, tick_interval=0.2, poll_interval=0.1)


@pytest.fixture
async def server(issuer: Issuer, config: ServerConfig) -> AsyncIterator[KeywellServer]:
    srv = create_app(issuer, config)
    async with srv.running():
        yield srv


@pytest.fixture
async def client(server: KeywellServer) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=server)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
        yield c


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}
