"""Issue 10 neighbours: a 304 updates the stored caching headers (RFC 9111 section 4.3.4).

The stored ``max-age`` stays unless the 304 carries new caching headers: a bare
304 must not make the set fresh for ``default_ttl``. ``Age`` belongs to the
response just received; a 304 ``Date`` moves an ``Expires`` lifetime. The
table drives the I/O-free cache on a frozen clock; the loopback test drives a
real server answering 304 without caching headers, sync and async.
"""

from __future__ import annotations

import asyncio

import pytest

from keywell import JWK, JWKSet
from keywell.client import RemoteJWKSet
from keywell.client.cache import CachePolicy, CachingHeaders, Fetched, JWKSCache, NotModified
from tests.client.jwks_server import Clock, JWKSServer, jwks

POLICY = CachePolicy(min_ttl=60, max_ttl=3600, default_ttl=600, cooldown=30, max_stale=100)
SET_A = JWKSet([JWK.generate("ES256", kid="a").public()])
EXPIRES = "Sun, 06 Nov 1994 09:49:37 GMT"
DATE = "Sun, 06 Nov 1994 08:49:37 GMT"
LATER = "Sun, 06 Nov 1994 09:19:37 GMT"  # half an hour later


def _h(**fields: str) -> CachingHeaders:
    return CachingHeaders(**fields)


# stored 200 headers, the 304's headers, TTL after the 200, TTL after the 304
TABLE = [
    (_h(cache_control="max-age=120"), _h(), 120, 120),
    (_h(cache_control="max-age=120"), _h(date=LATER), 120, 120),
    (_h(cache_control="max-age=120"), _h(cache_control="max-age=300"), 120, 300),
    (_h(cache_control="max-age=120"), _h(cache_control="no-cache"), 120, 60),
    (_h(cache_control="max-age=120"), _h(cache_control="max-age=²"), 120, 600),
    (_h(cache_control="no-cache"), _h(), 60, 60),
    (_h(cache_control="no-store"), _h(), 60, 60),
    (_h(), _h(), 600, 600),
    (_h(), _h(cache_control="max-age=120"), 600, 120),
    (_h(cache_control="max-age=300", age="200"), _h(), 100, 300),  # Age is the 304's
    (_h(cache_control="max-age=300"), _h(age="100"), 300, 200),
    (_h(expires=EXPIRES, date=DATE), _h(), 3600, 3600),
    (_h(expires=EXPIRES, date=DATE), _h(date=LATER), 3600, 1800),
    (_h(expires=EXPIRES, date=DATE), _h(cache_control="max-age=120"), 3600, 120),
    (_h(cache_control="max-age=abc"), _h(), 600, 600),
    (_h(cache_control="max-age=99999"), _h(), 3600, 3600),
]


@pytest.mark.parametrize(("stored", "answer", "first", "after"), TABLE)
def test_a_304_merges_its_headers_over_the_stored_ones(
    stored: CachingHeaders, answer: CachingHeaders, first: float, after: float
) -> None:
    cache = JWKSCache(POLICY)
    cache.complete(cache.begin(1000.0), Fetched(SET_A, stored), 1000.0)
    assert cache.expires_at - 1000.0 == first
    cache.complete(cache.begin(5000.0), NotModified(answer), 5000.0)
    assert cache.expires_at - 5000.0 == after
    assert cache.keys is SET_A
    assert cache.not_modified == 1


@pytest.mark.parametrize(
    ("answer", "etag", "last_modified"),
    [
        (_h(), '"v1"', DATE),
        (_h(etag='"v2"'), '"v2"', DATE),
        (_h(last_modified=LATER), '"v1"', LATER),
    ],
)
def test_a_304_updates_the_validators_it_carries(
    answer: CachingHeaders, etag: str, last_modified: str
) -> None:
    cache = JWKSCache(POLICY)
    stored = _h(cache_control="max-age=120", etag='"v1"', last_modified=DATE)
    cache.complete(cache.begin(1000.0), Fetched(SET_A, stored), 1000.0)
    cache.complete(cache.begin(2000.0), NotModified(answer), 2000.0)
    assert (cache.etag, cache.last_modified) == (etag, last_modified)
    assert cache.begin(3000.0).etag == etag


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_bare_304_keeps_the_stored_max_age(server: JWKSServer, mode: str) -> None:
    key = JWK.generate("ES256", kid="k")
    reply = server.set(jwks=jwks(key), etag='"v1"', headers={"Cache-Control": "max-age=120"})
    clock = Clock()
    remote = RemoteJWKSet(server.url(), clock=clock, cooldown=1, min_ttl=60, default_ttl=600)

    def fetch() -> JWKSet:
        return remote.jwks() if mode == "sync" else asyncio.run(remote.ajwks())

    assert [k.kid for k in fetch()] == ["k"]
    assert remote.health().expires_in == 120
    reply.headers = {}  # from now on the 304 carries ETag and Date only
    clock.advance(121)
    assert [k.kid for k in fetch()] == ["k"]
    assert server.hits() == 2
    assert server.last_headers()["If-None-Match"] == '"v1"'
    health = remote.health()
    assert health.not_modified == 1
    assert health.expires_in == 120  # not default_ttl (600)
    clock.advance(121)  # so the next lookup revalidates again
    fetch()
    assert server.hits() == 3
    remote.close()
