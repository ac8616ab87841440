"""The verified-token cache on static and custom key sources: what a hit re-checks, bounds, safety.

The remote-set cases (a refresh that drops or replaces a key) are in
tests/client/test_token_cache_remote.py; the memory bound in
tests/jose/test_token_cache_memory.py.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keywell import JWK, JWKSet, Verifier, errors, jwt
from keywell.client import MultiIssuerVerifier
from keywell.jose.token_cache import TokenCache

HS = JWK.from_secret(b"s" * 32, kid="hs")
ED = JWK.generate("EdDSA", kid="ed")
NOW = 1_800_000_000.0
ISS = "https://a"


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def token(key: JWK = HS, **claims: Any) -> str:
    body: dict[str, Any] = {"iss": ISS, "aud": "api", "exp": NOW + 60, "sub": "alice"}
    body.update(claims)
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key)


def verifier(keys: Any = HS, clock: Callable[[], float] = lambda: NOW, **kw: Any) -> Verifier:
    options: dict[str, Any] = {"issuer": ISS, "audience": "api", "clock": clock, **kw}
    return Verifier(keys, **options)


class Counting:
    """A key source without a generation: every hit must look its key up here."""

    def __init__(self, *keys: JWK) -> None:
        self.keys = JWKSet(keys)
        self.lookups = 0

    def candidates(self, kid: str | None, alg: str) -> tuple[JWK, ...]:
        self.lookups += 1
        return self.keys.candidates(kid, alg)


def test_a_second_verification_is_a_hit_with_equal_claims() -> None:
    v = verifier()
    t = token()
    first = v.verify(t)
    second = v.verify(t)
    assert (
        dict(first) == dict(second) == {"iss": ISS, "aud": "api", "exp": NOW + 60, "sub": "alice"}
    )
    h = v.health()
    assert (h.entries, h.hits, h.misses) == (1, 1, 1)
    assert h.bytes > len(t)


@pytest.mark.parametrize("keys", [HS, JWKSet([HS])], ids=["JWK", "JWKSet"])
def test_static_sources_hit_without_a_lookup(keys: Any) -> None:
    v = verifier(keys)
    t = token()
    for _ in range(5):
        assert v.verify(t)["sub"] == "alice"
    assert v.health().hits == 4


def test_a_source_without_a_generation_is_asked_on_every_hit() -> None:
    source = Counting(ED.public())
    v = verifier(source)
    t = token(ED)
    v.verify(t)
    v.verify(t)
    v.verify(t)
    assert source.lookups == 3
    assert v.health().hits == 2
    source.keys = JWKSet([JWK.generate("EdDSA", kid="other").public()])  # the key is gone
    with pytest.raises(errors.NoMatchingKeyError):
        v.verify(t)
    assert v.health().entries == 0
    assert v.health().invalidations == 1


def test_a_key_replaced_under_the_same_kid_refuses_its_tokens() -> None:
    source = Counting(ED.public())
    v = verifier(source)
    t = token(ED)
    v.verify(t)
    source.keys = JWKSet([JWK.generate("EdDSA", kid="ed").public()])  # same kid, new key
    with pytest.raises(errors.InvalidSignatureError):
        v.verify(t)


def test_an_equal_key_object_keeps_the_entry() -> None:
    source = Counting(ED.public())
    v = verifier(source)
    t = token(ED)
    v.verify(t)
    source.keys = JWKSet([JWK.from_dict(ED.public().to_dict())])  # reparsed, same key
    v.verify(t)
    assert v.health().hits == 1
    assert v.health().invalidations == 0


@pytest.mark.parametrize("leeway", [0, 30])
def test_a_cached_token_expires_at_exp_plus_leeway(leeway: int) -> None:
    clock = Clock()
    v = verifier(clock=clock, leeway=leeway)
    t = token(exp=NOW + 10)
    v.verify(t)
    clock.now = NOW + 10 + leeway - 0.001
    assert v.verify(t)["sub"] == "alice"
    assert v.health().hits == 1
    clock.now = NOW + 10 + leeway
    with pytest.raises(errors.ExpiredTokenError):
        v.verify(t)
    assert v.health().entries == 0


@pytest.mark.parametrize(
    ("claims", "back_to", "error"),
    [
        ({"nbf": NOW}, NOW - 1, errors.NotYetValidError),  # clock stepped back before nbf
        ({"iat": NOW}, NOW - 1, errors.NotYetValidError),  # ... before iat
        ({"iat": NOW}, NOW + 31, errors.ExpiredTokenError),  # older than max_age
    ],
    ids=["nbf", "iat-future", "max_age"],
)
def test_every_time_claim_is_rechecked_on_a_hit(
    claims: dict[str, Any], back_to: float, error: type[Exception]
) -> None:
    clock = Clock()
    v = verifier(clock=clock, max_age=30)
    t = token(**claims) if "iat" in claims else token(iat=NOW, **claims)
    v.verify(t)
    v.verify(t)
    clock.now = back_to
    with pytest.raises(error):
        v.verify(t)


TIMES = st.one_of(st.none(), st.integers(NOW - 100, NOW + 100).map(float))


@settings(max_examples=150, deadline=None)
@given(
    exp=TIMES,
    nbf=TIMES,
    iat=TIMES,
    leeway=st.sampled_from([0, 5]),
    max_age=st.sampled_from([None, 50]),
    later=st.floats(-120, 120),
)
def test_a_hit_gives_the_verdict_an_uncached_verifier_gives(
    exp: float | None,
    nbf: float | None,
    iat: float | None,
    leeway: int,
    max_age: int | None,
    later: float,
) -> None:
    """Differential: whatever the time claims and the clock, cached == uncached."""
    clock = Clock()
    rules: dict[str, Any] = {"leeway": leeway, "max_age": max_age, "required": ()}
    cached = verifier(clock=clock, **rules)
    plain = verifier(clock=clock, cache_size=0, **rules)
    t = token(exp=exp, nbf=nbf, iat=iat)
    for now in (NOW, NOW + later):
        clock.now = now
        outcomes = []
        for v in (cached, plain):
            try:
                outcomes.append(dict(v.verify(t)))
            except errors.TokenError as exc:
                outcomes.append(type(exc))
        assert outcomes[0] == outcomes[1]


def test_every_one_character_change_is_not_a_hit() -> None:
    v = verifier()
    t = token()
    v.verify(t)
    alphabet = "AQgw_-"
    for i in range(len(t)):
        for c in alphabet:
            if t[i] == c:
                continue
            changed = t[:i] + c + t[i + 1 :]
            with pytest.raises(errors.TokenError):
                v.verify(changed)
    h = v.health()
    assert h.hits == 0
    assert h.entries == 1
    for other in (t + "A", " " + t, t + " ", t + "\n", t[:-1]):
        with pytest.raises(errors.TokenError):
            v.verify(other)
    assert v.verify(t.encode())["sub"] == "alice"  # bytes take the full path
    assert v.health().hits == 0


@pytest.mark.parametrize(("size", "bytes_"), [(50, 10**9), (10**6, 20_000)])
def test_a_flood_of_distinct_valid_tokens_keeps_both_bounds(size: int, bytes_: int) -> None:
    v = verifier(cache_size=size, cache_bytes=bytes_)
    flood = [token(sub=f"user-{i}") for i in range(600)]
    for _ in range(2):  # the second pass: each token's second success, admitted when full
        for i, t in enumerate(flood):
            assert v.verify(t)["sub"] == f"user-{i}"
            h = v.health()
            assert h.entries <= size
            assert h.bytes <= bytes_
    h = v.health()
    assert h.entries > 0
    assert h.evictions > 0
    assert h.misses + h.hits == 1200


def test_a_full_cache_stores_a_token_at_its_second_success() -> None:
    v = verifier(cache_size=3)
    in_use = [token(sub=f"in-use-{i}") for i in range(3)]
    for t in in_use:
        v.verify(t)
    for i in range(100):  # a scan of tokens seen once: none displaces a token in use
        v.verify(token(sub=f"once-{i}"))
    for t in in_use:
        v.verify(t)
    assert v.health().hits == 3
    newcomer = token(sub="newcomer")
    v.verify(newcomer)
    v.verify(newcomer)  # its second success: stored, the least recently used goes
    v.verify(newcomer)
    h = v.health()
    assert h.hits == 4
    assert h.evictions == 1
    assert h.entries == 3


def test_a_flood_of_forged_tokens_is_never_cached() -> None:
    v = verifier()
    forger = JWK.from_secret(b"f" * 32, kid="hs")
    for i in range(300):
        with pytest.raises(errors.InvalidSignatureError):
            v.verify(token(forger, sub=f"x{i}"))
    expired = token(exp=NOW - 1)
    for _ in range(3):
        with pytest.raises(errors.ExpiredTokenError):
            v.verify(expired)
    h = v.health()
    assert h.entries == 0
    assert h.bytes == 0
    assert h.misses == 303
    assert h.hits == 0


def test_recently_used_tokens_survive_eviction() -> None:
    v = verifier(cache_size=10)
    hot = token(sub="hot")
    v.verify(hot)
    for i in range(50):
        v.verify(token(sub=f"cold-{i}"))
        v.verify(hot)
    assert v.health().hits == 50


def test_returned_claims_are_not_shared_mutable_state() -> None:
    v = verifier()
    t = token(aud=["api", "other"], realm={"roles": ["user"]})
    for _ in range(3):
        claims = v.verify(t)
        with pytest.raises(TypeError):
            claims["sub"] = "mallory"  # type: ignore[index]
        claims["aud"].append("evil")
        claims["realm"]["roles"].append("admin")
    again = v.verify(t)
    assert again["aud"] == ["api", "other"]
    assert again["realm"] == {"roles": ["user"]}


def test_cache_off() -> None:
    source = Counting(ED.public())
    v = verifier(source, cache_size=0)
    t = token(ED)
    for _ in range(3):
        v.verify(t)
    assert source.lookups == 3
    assert v.health().entries == 0
    assert v.health().hits == 0
    assert v.health().max_entries == 0


@pytest.mark.parametrize(
    "kwargs", [{"cache_size": -1}, {"cache_bytes": -1}, {"cache_size": 1.5}, {"cache_size": True}]
)
def test_bad_bounds_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be a non-negative integer"):
        verifier(**kwargs)


def test_an_entry_serves_only_the_verifier_that_stored_it() -> None:
    shared = TokenCache()
    strict = verifier(audience="other")
    loose = verifier()
    strict._share_cache(shared)
    loose._share_cache(shared)
    t = token()
    loose.verify(t)
    with pytest.raises(errors.ClaimError):
        strict.verify(t)


def test_multi_issuer_verifier_shares_one_cache() -> None:
    other = JWK.from_secret(b"o" * 32, kid="o")
    multi = MultiIssuerVerifier(
        {ISS: HS, "https://b": other}, audience="api", clock=lambda: NOW, cache_size=100
    )
    a, b = token(), token(other, iss="https://b")
    for _ in range(3):
        assert multi.verify(a)["iss"] == ISS
        assert multi.verify(b)["iss"] == "https://b"
    h = multi.health()
    assert (h.entries, h.hits, h.misses) == (2, 4, 2)
    assert MultiIssuerVerifier({ISS: HS}, audience="api", cache_size=0).health().max_entries == 0


@pytest.mark.anyio
async def test_async_hits_and_rechecks() -> None:
    clock = Clock()
    v = verifier(clock=clock)
    t = token(exp=NOW + 10)
    assert (await v.averify(t))["sub"] == "alice"
    assert (await v.averify(t))["sub"] == "alice"
    assert v.health().hits == 1
    clock.now = NOW + 10
    with pytest.raises(errors.ExpiredTokenError):
        await v.averify(t)


def test_threads_share_a_verifier() -> None:
    v = verifier(cache_size=40)
    tokens = [token(sub=f"u{i}") for i in range(60)]
    errors_seen: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for n in range(600):
                i = (n * 7 + offset) % len(tokens)
                assert v.verify(tokens[i])["sub"] == f"u{i}"
        except BaseException as exc:  # reported below
            errors_seen.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert not errors_seen
    h = v.health()
    assert h.entries <= 40
    assert h.hits + h.misses == 3600
    assert h.bytes == sum(e.size for e in v._cache._entries.values())  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_asyncio_tasks_share_a_verifier() -> None:
    v = verifier(cache_size=30)
    tokens = [token(sub=f"u{i}") for i in range(50)]

    async def work(offset: int) -> None:
        for n in range(300):
            i = (n * 3 + offset) % len(tokens)
            assert (await v.averify(tokens[i]))["sub"] == f"u{i}"
            if n % 10 == 0:
                await asyncio.sleep(0)

    await asyncio.gather(*(work(k) for k in range(8)))
    h = v.health()
    assert h.entries <= 30
    assert h.hits + h.misses == 2400
    assert h.hits > 0


def test_repr_shows_no_token() -> None:
    v = verifier()
    t = token()
    v.verify(t)
    assert t not in repr(v._cache)
    assert "alice" not in repr(v._cache)
