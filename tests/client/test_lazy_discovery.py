"""Issue 12 item 11: ``RemoteJWKSet.from_issuer`` discovers on first use, not at import."""

from __future__ import annotations

import asyncio
import threading

import pytest

from keywell import JWK, DiscoveryError, Verifier
from keywell.client import RemoteJWKSet
from tests.client.jwks_server import Clock, JWKSServer, jwks, token

META = "/idp/.well-known/openid-configuration"


def _publish(server: JWKSServer, key: JWK, **reply: object) -> str:
    issuer = server.url("/idp")
    server.set(META, jwks={"issuer": issuer, "jwks_uri": server.url("/keys")}, **reply)  # type: ignore[arg-type]
    server.set("/keys", jwks=jwks(key))
    return issuer


def test_app_starts_while_the_issuer_is_down(server: JWKSServer, clock: Clock, key_a: JWK) -> None:
    issuer = server.url("/idp")
    server.set(META, status=503)
    remote = RemoteJWKSet.from_issuer(
        issuer, clock=clock, cooldown=30
    )  # what an app runs at import
    assert server.hits(META) == 0
    assert issuer in remote.url
    verifier = Verifier(remote, issuer=issuer, audience="api")
    with pytest.raises(DiscoveryError, match="HTTP 503") as info:
        verifier.verify(token(key_a, iss=issuer))
    assert info.value.code == "KW_DISCOVERY"
    assert server.hits(META) == 1
    _publish(server, key_a)
    clock.advance(10)  # within the cooldown: refused at once, no request
    with pytest.raises(DiscoveryError, match="HTTP 503"):
        verifier.verify(token(key_a, iss=issuer))
    assert server.hits(META) == 1
    clock.advance(21)  # after the cooldown: discovery and the set, once
    assert verifier.verify(token(key_a, iss=issuer))["sub"] == "alice"
    assert (server.hits(META), server.hits("/keys")) == (2, 1)
    assert remote.url == server.url("/keys")
    clock.advance(700)  # the set expires: refetched from the kept jwks_uri, no rediscovery
    assert verifier.verify(token(key_a, iss=issuer))["sub"] == "alice"
    assert (server.hits(META), server.hits("/keys")) == (2, 2)


def test_first_use_is_one_flight_for_threads_and_tasks(
    server: JWKSServer, clock: Clock, key_a: JWK
) -> None:
    issuer = _publish(server, key_a, delay=0.3)
    remote = RemoteJWKSet.from_issuer(issuer, clock=clock)
    verifier = Verifier(remote, issuer=issuer, audience="api")
    good = token(key_a, iss=issuer)
    results: list[object] = []
    barrier = threading.Barrier(9)

    def worker() -> None:
        barrier.wait()
        results.append(verifier.verify(good)["sub"])

    async def tasks() -> None:
        barrier.wait()
        found = await asyncio.gather(*(verifier.averify(good) for _ in range(20)))
        results.extend(c["sub"] for c in found)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for th in threads:
        th.start()
    asyncio.run(tasks())
    for th in threads:
        th.join()
    assert results == ["alice"] * 28
    assert (server.hits(META), server.hits("/keys")) == (1, 1)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_lazy_discovery_from_async_code(
    server: JWKSServer, clock: Clock, key_a: JWK, anyio_backend: str
) -> None:
    issuer = _publish(server, key_a)
    async with RemoteJWKSet.from_issuer(issuer, clock=clock) as remote:
        assert (await remote.aget_key("key-a")) == key_a.public()
    assert server.hits(META) == 1


def test_eager_option_discovers_at_construction(server: JWKSServer, key_a: JWK) -> None:
    issuer = server.url("/idp")
    server.set(META, status=503)
    with pytest.raises(DiscoveryError, match="HTTP 503"):
        RemoteJWKSet.from_issuer(issuer, lazy=False)
    _publish(server, key_a)
    remote = RemoteJWKSet.from_issuer(issuer, lazy=False)
    assert remote.url == server.url("/keys")
    assert server.hits("/keys") == 0  # the set itself is still fetched on first use


@pytest.mark.parametrize(
    "issuer", ["ftp://idp.example", "http://idp.example", "https://idp.example/?x=1", "idp"]
)
def test_a_bad_issuer_is_refused_at_construction_even_lazily(issuer: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        RemoteJWKSet.from_issuer(issuer)
