"""The registry of published documents across replicas: ordering, signer caches, staleness.

Two Issuers on one SQLite file stand for two replicas sharing a database. A
race is forced by pausing one refresh at the point where it has read the store
(a wrapped ``Issuer.jwks``), never by faking what it read.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import psycopg
import pytest

from keywell.issuer import Issuer
from keywell.jose.base64url import b64url_decode
from keywell.lifecycle import KeyState
from keywell.server import ServerConfig, create_app
from keywell.server.published import Registry
from keywell.store.kek import KEKRing
from tests.server.conftest import BASE
from tests.store.pgutil import fresh_database

ISS = "https://issuer.test"


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[tuple[Issuer, Issuer]]:
    keks = KEKRing.generate()
    url = f"sqlite:///{tmp_path / 'kw.db'}"
    a = Issuer(url, keks=keks, auto_upgrade=True, sign_cache_ttl=60)
    b = Issuer(url, keks=keks)
    a.create_keyset("default", issuer=ISS)
    yield a, b
    a.close()
    b.close()


def served_kids(registry: Registry, name: str = "default") -> list[str]:
    return [k["kid"] for k in json.loads(registry.entries[name].jwks.body)["keys"]]


def active_kid(issuer: Issuer) -> str:
    return next(k.kid for k in issuer.keys("default") if k.state is KeyState.ACTIVE)


def test_a_slow_poll_never_installs_a_document_older_than_an_admin_refresh(
    replicas: tuple[Issuer, Issuer],
) -> None:
    issuer, _ = replicas
    registry = Registry(base_url="http://k.test", default_keyset="default")
    registry.refresh(issuer)
    old = active_kid(issuer)
    real_jwks = issuer.jwks
    read, resume = threading.Event(), threading.Event()
    poller = threading.current_thread()

    def paused_jwks(name: str) -> Any:
        doc = real_jwks(name)
        if threading.current_thread() is not poller and not read.is_set():
            read.set()  # the poll has read the document that still lists ``old``
            resume.wait(10)
        return doc

    issuer.jwks = paused_jwks  # type: ignore[method-assign]
    issuer.create_keyset("other", issuer=ISS)  # moves a version so the poll re-reads
    issuer.invalidate_signer()
    poll = threading.Thread(target=lambda: registry.refresh(issuer, force=True))
    poll.start()
    assert read.wait(10)
    issuer.revoke("default", old, "leaked")
    admin = threading.Thread(target=lambda: registry.refresh(issuer))  # the admin handler's
    admin.start()
    admin.join(0.5)  # finishes at once without a lock; waits for the poll with one
    assert admin.is_alive()  # it is waiting for the paused poll, not racing it
    resume.set()
    poll.join(10)
    admin.join(10)
    assert old not in served_kids(registry)
    assert registry.entries["default"].version == issuer.get_keyset("default").version


def test_seeing_another_replicas_change_drops_the_local_signer(
    replicas: tuple[Issuer, Issuer],
) -> None:
    a, b = replicas
    registry = Registry(base_url="http://k.test", default_keyset="default")
    registry.refresh(a)
    old = active_kid(a)
    a.sign("default", {})  # cached for 60 s (capped by clock_skew, 60 s)
    b.revoke("default", old, "leaked")
    assert registry.refresh(a) == ["default"]
    token = a.sign("default", {})
    assert json.loads(b64url_decode(token.split(".")[0]))["kid"] != old


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_a_revoke_returns_once_every_replica_serves_the_new_set(
    replicas: tuple[Issuer, Issuer],
) -> None:
    """Replica b never polls (like one stopped by SIGSTOP): its next request still is fresh."""
    a, b = replicas
    config = ServerConfig(public_url=BASE, poll_interval=0.05, max_staleness=0.2)
    server_a, server_b = create_app(a, config), create_app(b, config)
    await server_a.scheduler.refresh(force=True)
    await server_b.scheduler.refresh(force=True)  # and never again: no scheduler runs
    secret = a.create_admin_token(["revoke"], name="ops")
    old = active_kid(a)
    client_a = httpx.AsyncClient(transport=httpx.ASGITransport(app=server_a), base_url=BASE)
    client_b = httpx.AsyncClient(transport=httpx.ASGITransport(app=server_b), base_url=BASE)
    async with client_a, client_b:
        before = await client_b.get("/.well-known/jwks.json")
        assert old in [k["kid"] for k in before.json()["keys"]]
        resp = await client_a.post(
            f"/admin/v1/keysets/default/keys/{old}/revoke",
            json={"reason": "leaked"},
            headers={"Authorization": f"Bearer {secret}"},
        )
        returned = datetime.now(UTC)
        assert resp.status_code == 200
        committed = datetime.fromisoformat(resp.json()[0]["committed_at"])
        assert returned >= committed + timedelta(seconds=config.staleness_bound)
        after = await client_b.get("/.well-known/jwks.json")
    assert after.status_code == 200
    assert old not in [k["kid"] for k in after.json()["keys"]]
    assert after.headers["etag"] != before.headers["etag"]


@pytest.mark.anyio
@pytest.mark.postgres
async def test_an_unreachable_store_serves_the_last_documents_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with fresh_database() as url:
        issuer = Issuer(url, keks=KEKRing.generate(), auto_upgrade=True)
        issuer.create_keyset("default", issuer=ISS)
        config = ServerConfig(public_url=BASE, poll_interval=0.01, max_staleness=0.01)
        server = create_app(issuer, config)
        await server.scheduler.refresh(force=True)
        transport = httpx.ASGITransport(app=server)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            first = await client.get("/.well-known/jwks.json")
            name = url.rsplit("/", 1)[1]
            with psycopg.connect(
                url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0] + "/test",
                autocommit=True,
            ) as admin:
                admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            caplog.set_level(logging.WARNING, logger="keywell.server.scheduler")
            served = []
            for _ in range(3):
                await anyio.sleep(0.03)  # older than max_staleness: each request checks first
                served.append(await client.get("/.well-known/jwks.json"))
        issuer.close()
    assert [r.status_code for r in served] == [200, 200, 200]
    assert {r.content for r in served} == {first.content}
    assert {r.headers["etag"] for r in served} == {first.headers["etag"]}
    outage = [r for r in caplog.records if "stale-if-error" in r.getMessage()]
    assert len(outage) == 1
