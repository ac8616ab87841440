"""The I/O-free cache core: TTL rules, decisions, ordering, the negative cache, health."""

from __future__ import annotations

import pytest

from keywell import JWK, JWKSet
from keywell.client.cache import (
    Action,
    CachePolicy,
    CachingHeaders,
    Fetched,
    FetchFailed,
    JWKSCache,
    NotModified,
    compute_ttl,
)

POLICY = CachePolicy(min_ttl=60, max_ttl=3600, default_ttl=600, cooldown=30, max_stale=100)
SET_A = JWKSet([JWK.generate("ES256", kid="a").public()])
SET_B = JWKSet([JWK.generate("ES256", kid="b").public()])


@pytest.mark.parametrize(
    ("headers", "ttl"),
    [
        (CachingHeaders(cache_control="max-age=300"), 300),
        (CachingHeaders(cache_control='public, MAX-AGE="300"'), 300),
        (CachingHeaders(cache_control="max-age=300", age="250"), 60),
        (CachingHeaders(cache_control="max-age=abc"), 600),
        (CachingHeaders(cache_control="max-age=1"), 60),
        (CachingHeaders(cache_control="max-age=99999"), 3600),
        (CachingHeaders(cache_control="no-store, max-age=900"), 60),
        (CachingHeaders(cache_control="private, no-cache"), 60),
        (CachingHeaders(), 600),
        (
            CachingHeaders(
                expires="Sun, 06 Nov 1994 09:49:37 GMT", date="Sun, 06 Nov 1994 08:49:37 GMT"
            ),
            3600,
        ),
        (CachingHeaders(expires="0"), 60),  # invalid Expires means already expired
        (
            CachingHeaders(
                cache_control="max-age=120",
                expires="Sun, 06 Nov 1994 09:49:37 GMT",
                date="Sun, 06 Nov 1994 08:49:37 GMT",
            ),
            120,
        ),
    ],
)
def test_compute_ttl(headers: CachingHeaders, ttl: float) -> None:
    assert compute_ttl(headers, POLICY, now=1000.0) == ttl


@pytest.mark.parametrize(
    "kwargs",
    [
        {"cooldown": -1},
        {"min_ttl": 700},
        {"max_ttl": 100},
        {"refresh_ahead": 0},
        {"max_stale": float("inf")},
        {"negative_cache_size": -1},
    ],
)
def test_policy_refuses_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        CachePolicy(**kwargs)  # type: ignore[arg-type]


def test_policy_type_errors() -> None:
    with pytest.raises(TypeError):
        CachePolicy(cooldown="30")  # type: ignore[arg-type]


def test_older_response_never_overwrites_newer() -> None:
    cache = JWKSCache(POLICY)
    first = cache.begin(0.0)
    second = cache.begin(1.0)
    assert cache.complete(second, Fetched(SET_B, CachingHeaders()), 2.0)
    assert not cache.complete(first, Fetched(SET_A, CachingHeaders()), 3.0)
    assert cache.keys is SET_B


def test_failure_never_replaces_and_stale_window() -> None:
    cache = JWKSCache(POLICY)
    cache.complete(cache.begin(0.0), Fetched(SET_A, CachingHeaders()), 0.0)
    assert cache.plan("a", 599.0).action is Action.SERVE
    assert cache.plan("a", 600.0).action is Action.FETCH
    cache.complete(cache.begin(600.0), FetchFailed("HTTP 500"), 600.0)
    assert cache.keys is SET_A
    assert cache.plan("a", 610.0).action is Action.SERVE  # stale, within cooldown
    decision = cache.plan("a", 701.0, allow_fetch=False)
    assert decision.action is Action.FAIL_UNAVAILABLE
    assert "HTTP 500" in decision.reason
    assert cache.health(650.0).state == "stale"
    assert cache.health(701.0).state == "expired"


def test_not_modified_extends_and_needs_a_set() -> None:
    cache = JWKSCache(POLICY)
    ticket = cache.begin(0.0)
    cache.complete(ticket, NotModified(CachingHeaders()), 0.0)
    assert cache.last_error == "HTTP 304 without a cached set"
    cache.complete(cache.begin(40.0), Fetched(SET_A, CachingHeaders(etag='"x"')), 40.0)
    ticket = cache.begin(700.0)
    assert ticket.etag == '"x"'
    cache.complete(ticket, NotModified(CachingHeaders(cache_control="max-age=100")), 700.0)
    assert cache.expires_at == 800.0
    assert cache.keys is SET_A


def test_unknown_kid_cooldown_and_bounded_negative_cache() -> None:
    cache = JWKSCache(CachePolicy(negative_cache_size=3, negative_ttl=300))
    cache.complete(cache.begin(0.0), Fetched(SET_A, CachingHeaders()), 0.0)
    assert cache.plan("zz", 10.0).action is Action.FAIL_UNKNOWN_KID
    assert cache.plan("zz", 31.0).action is Action.FETCH
    cache.complete(cache.begin(31.0), Fetched(SET_A, CachingHeaders()), 31.0)
    for kid in ("k1", "k2", "k3", "k4"):
        assert cache.plan(kid, 31.0, allow_fetch=False).action is Action.FAIL_UNKNOWN_KID
    assert list(cache._negative) == ["k2", "k3", "k4"]  # bounded, oldest evicted
    assert cache.plan("k4", 100.0).reason == "the kid was absent from a recent fetch of the set"
    assert cache.plan("k1", 100.0).action is Action.FETCH
    assert cache.plan(None, 100.0).action is Action.SERVE  # no kid: no refetch


def test_refresh_ahead_point() -> None:
    cache = JWKSCache(CachePolicy(refresh_ahead=100))
    cache.complete(cache.begin(0.0), Fetched(SET_A, CachingHeaders()), 0.0)
    assert cache.fresh_until == 500.0
    assert cache.plan("a", 499.0).action is Action.SERVE
    assert cache.plan("a", 501.0).action is Action.SERVE_AND_REFRESH


def test_abandon_restores_cooldown() -> None:
    cache = JWKSCache(POLICY)
    ticket = cache.begin(5.0)
    cache.abandon(ticket)
    assert cache.plan(None, 5.0).action is Action.FETCH
