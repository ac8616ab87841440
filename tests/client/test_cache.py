"""The I/O-free cache core: TTL rules, decisions, ordering, the unknown-kid cooldown, health."""

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
_KEY_B = JWK.generate("ES256", kid="b").public()
SET_B = JWKSet([_KEY_B])
SET_AB = JWKSet([*SET_A, _KEY_B])


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
    ],
)
def test_policy_refuses_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        CachePolicy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "shown"),
    [
        ({"max_ttl": 1}, "min_ttl=60, default_ttl=600, max_ttl=1"),
        ({"min_ttl": 700}, "min_ttl=700, default_ttl=600, max_ttl=86400"),
        ({"default_ttl": 30}, "min_ttl=60, default_ttl=30, max_ttl=86400"),
        ({"default_ttl": 90000}, "min_ttl=60, default_ttl=90000, max_ttl=86400"),
        ({"min_ttl": 5, "default_ttl": 2, "max_ttl": 1}, "min_ttl=5, default_ttl=2, max_ttl=1"),
    ],
)
def test_policy_out_of_order_ttls_are_named_with_their_values(
    kwargs: dict[str, float], shown: str
) -> None:
    # the defaults take part: max_ttl=1 alone is below the default default_ttl (600)
    with pytest.raises(ValueError, match="need min_ttl <= default_ttl <= max_ttl") as info:
        CachePolicy(**kwargs)  # type: ignore[arg-type]
    assert shown in str(info.value)


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


def _loaded(policy: CachePolicy = POLICY, keys: JWKSet = SET_A) -> JWKSCache:
    cache = JWKSCache(policy)
    cache.complete(cache.begin(0.0), Fetched(keys, CachingHeaders()), 0.0)
    return cache


def test_unknown_kid_refetches_once_the_cooldown_has_passed() -> None:
    """Issue 10 kind C, frozen clock: a kid absent after a fetch is retried after the cooldown."""
    cache = _loaded(CachePolicy(cooldown=0.5))
    assert cache.plan("b", 0.1).action is Action.FAIL_UNKNOWN_KID  # within the cooldown
    assert cache.plan("b", 0.5).action is Action.FETCH
    cache.complete(cache.begin(0.5), Fetched(SET_A, CachingHeaders()), 0.5)  # b still absent
    refused = cache.plan("b", 0.5, allow_fetch=False)  # the waiter of that fetch
    assert refused.action is Action.FAIL_UNKNOWN_KID
    assert "cooldown 0.5s" in refused.reason
    assert cache.plan("b", 0.9).action is Action.FAIL_UNKNOWN_KID
    assert cache.plan("b", 1.1).action is Action.FETCH  # +0.6 s: not remembered past the cooldown
    cache.complete(cache.begin(1.1), Fetched(SET_AB, CachingHeaders()), 1.1)
    assert cache.plan("b", 1.7).action is Action.SERVE  # +1.2 s: known
    assert cache.fetches == 3


@pytest.mark.parametrize(
    ("member", "kids", "fetches_at"),
    [
        # one kid over and over: one fetch per cooldown, never more, never later
        ("same kid", ["x"] * 8, [30.0, 60.0, 90.0]),
        # a flood of distinct kids: still one fetch per cooldown
        ("distinct kids", [f"k{i}" for i in range(8)], [30.0, 60.0, 90.0]),
        # kid-less tokens never cause a refetch while the set is fresh
        ("no kid", [None] * 8, []),
    ],
)
def test_unknown_kid_members_fetch_at_most_once_per_cooldown(
    member: str, kids: list[str | None], fetches_at: list[float]
) -> None:
    cache = _loaded()
    fetched: list[float] = []
    for step in range(1, 10):
        now = step * 10.0
        for kid in kids:
            decision = cache.plan(kid, now)
            if decision.action is Action.FETCH:
                fetched.append(now)
                cache.complete(cache.begin(now), Fetched(SET_A, CachingHeaders()), now)
            else:
                assert decision.action in (Action.FAIL_UNKNOWN_KID, Action.SERVE), member
    assert fetched == fetches_at


def test_failed_refetch_charges_the_cooldown_and_says_why() -> None:
    cache = _loaded()
    assert cache.plan("b", 30.0).action is Action.FETCH
    cache.complete(cache.begin(30.0), FetchFailed("HTTP 503"), 30.0)
    refused = cache.plan("b", 30.0, allow_fetch=False)
    assert refused.action is Action.FAIL_UNKNOWN_KID
    assert "HTTP 503" in refused.reason
    assert cache.keys is SET_A  # the last good set is kept
    assert cache.plan("a", 40.0).action is Action.SERVE
    assert cache.plan("b", 59.0).action is Action.FAIL_UNKNOWN_KID
    assert cache.plan("b", 60.0).action is Action.FETCH


def test_cooldown_counts_from_the_end_of_a_slow_fetch() -> None:
    cache = _loaded()
    ticket = cache.begin(30.0)
    cache.complete(ticket, Fetched(SET_A, CachingHeaders()), 45.0)  # took 15 s
    assert cache.plan("b", 60.0).action is Action.FAIL_UNKNOWN_KID
    assert cache.plan("b", 75.0).action is Action.FETCH


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
