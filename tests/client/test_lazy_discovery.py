"""Issue 12 item 11: ``RemoteJWKSet.from_issuer`` discovers on first use, not at import."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from keywell import JWK, DiscoveryError, KeywellError, Verifier
from keywell.client import RemoteJWKSet, adiscover, discover
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


OAUTH = "/.well-known/oauth-authorization-server/idp"
# (OIDC location: delay, status; RFC 8414 location delay or None; set delay) -> outcome
DEADLINE_TABLE = [
    ((0.0, 200), None, 0.3, "accepted"),
    ((0.0, 404), 0.3, 0.3, "accepted"),
    ((0.6, 404), 0.6, 0.0, "DiscoveryError"),  # the second location meets the deadline
    ((0.4, 404), 0.4, 0.4, "JWKSFetchError"),  # discovery took 0.8 s: the set gets 0.2 s
    ((0.9, 200), None, 0.3, "JWKSFetchError"),
    ((1.5, 200), None, 0.0, "DiscoveryError"),
]


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(("oidc", "oauth", "keys", "outcome"), DEADLINE_TABLE)
def test_timeout_is_one_deadline_for_discovery_and_the_first_fetch(
    server: JWKSServer,
    key_a: JWK,
    mode: str,
    oidc: tuple[float, int],
    oauth: float | None,
    keys: float,
    outcome: str,
) -> None:
    """Issue 10 kind D: a lazy first lookup waits ``timeout`` in all, not one per request."""
    issuer = server.url("/idp")
    document = {"issuer": issuer, "jwks_uri": server.url("/keys")}
    delay, status = oidc
    if status == 200:
        server.set(META, jwks=document, delay=delay)
    else:
        server.set(META, status=404, delay=delay)
    if oauth is not None:
        server.set(OAUTH, jwks=document, delay=oauth)
    server.set("/keys", jwks=jwks(key_a), delay=keys)
    remote = RemoteJWKSet.from_issuer(issuer, timeout=1.0, cooldown=30)
    started = time.monotonic()
    try:
        found = remote.jwks() if mode == "sync" else asyncio.run(remote.ajwks())
        got = "accepted" if [k.kid for k in found] == ["key-a"] else "wrong set"
        says = ""
    except KeywellError as exc:
        got, says = type(exc).__name__, exc.message
    elapsed = time.monotonic() - started
    assert got == outcome
    if outcome != "accepted":
        assert "timed out" in says
    assert elapsed < 1.0 + 1.0  # the one deadline, plus loose slack for a loaded machine
    remote.close()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_discover_has_one_deadline_for_both_locations(server: JWKSServer, mode: str) -> None:
    issuer = server.url("/idp")
    server.set(META, status=404, delay=0.6)
    server.set(OAUTH, jwks={"issuer": issuer, "jwks_uri": server.url("/keys")}, delay=0.6)
    started = time.monotonic()

    def run() -> str:
        if mode == "sync":
            return discover(issuer, timeout=1.0)
        return asyncio.run(adiscover(issuer, timeout=1.0))

    with pytest.raises(DiscoveryError, match="within 1s"):
        run()
    assert time.monotonic() - started < 1.0 + 1.0
    assert discover(issuer, timeout=2.0) == server.url("/keys")  # 1.2 s in all fits in 2 s
