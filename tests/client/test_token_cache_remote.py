"""The verified-token cache over a RemoteJWKSet on a real loopback server.

A refresh that drops, revokes or replaces a key invalidates every token that
key verified, at the first hit after it; an unchanged refetch keeps them; a
set no longer usable refuses cached tokens as it refuses fresh ones.
"""

from __future__ import annotations

import pytest

from keywell import JWK, JWKSFetchError, NoMatchingKeyError, Verifier, errors
from keywell.client import RemoteJWKSet
from tests.client.jwks_server import Clock, JWKSServer, jwks, token

ISS = "https://issuer.example"


def setup(server: JWKSServer, clock: Clock, **kw: object) -> tuple[RemoteJWKSet, Verifier]:
    remote = RemoteJWKSet(server.url(), clock=clock, timeout=2.0, **kw)  # type: ignore[arg-type]
    return remote, Verifier(remote, issuer=ISS, audience="api", clock=clock)


def test_hits_while_the_set_is_fresh(server: JWKSServer, clock: Clock, key_a: JWK) -> None:
    server.set(jwks=jwks(key_a), headers={"Cache-Control": "max-age=300"})
    _, v = setup(server, clock)
    t = token(key_a)
    for _ in range(5):
        assert v.verify(t)["sub"] == "alice"
    assert v.health().hits == 4
    assert server.hits() == 1


@pytest.mark.parametrize("how", ["removed", "replaced-same-kid"])
def test_a_refresh_that_drops_the_key_refuses_its_cached_tokens(
    server: JWKSServer, clock: Clock, key_a: JWK, key_b: JWK, how: str
) -> None:
    server.set(jwks=jwks(key_a, key_b), headers={"Cache-Control": "max-age=60"})
    _, v = setup(server, clock)
    t_a, t_b = token(key_a), token(key_b)
    v.verify(t_a)
    v.verify(t_b)
    v.verify(t_a)
    assert v.health().hits == 1
    replacement = JWK.generate("ES256", kid="key-a")
    keys = (key_b,) if how == "removed" else (replacement, key_b)
    server.set(jwks=jwks(*keys), headers={"Cache-Control": "max-age=60"})
    clock.advance(61)  # the set is due: the next hit looks the key up, which refetches
    expected = NoMatchingKeyError if how == "removed" else errors.InvalidSignatureError
    with pytest.raises(expected):
        v.verify(t_a)
    assert server.hits() == 2
    assert v.verify(t_b)["sub"] == "alice"  # the other key's token is still served
    assert v.verify(t_b)["sub"] == "alice"
    h = v.health()
    assert h.invalidations == 1
    assert h.hits == 3
    if how == "replaced-same-kid":
        assert v.verify(token(replacement))["sub"] == "alice"


def test_a_refresh_by_another_caller_invalidates_at_once(
    server: JWKSServer, clock: Clock, key_a: JWK, key_b: JWK
) -> None:
    """The set changed through a kid lookup of another token: no cached token of a gone key."""
    server.set(jwks=jwks(key_a), headers={"Cache-Control": "max-age=600"})
    remote, v = setup(server, clock, cooldown=5)
    t_a = token(key_a)
    v.verify(t_a)
    server.set(jwks=jwks(key_b), headers={"Cache-Control": "max-age=600"})  # key_a revoked
    clock.advance(6)
    assert v.verify(token(key_b))["sub"] == "alice"  # unknown kid: one refetch
    assert server.hits() == 2
    with pytest.raises(NoMatchingKeyError):
        v.verify(t_a)  # fresh set, new generation: the hit looked key-a up
    assert remote.key_generation() is not None


def test_an_unchanged_refetch_keeps_entries(server: JWKSServer, clock: Clock, key_a: JWK) -> None:
    server.set(jwks=jwks(key_a), headers={"Cache-Control": "max-age=60"})
    _, v = setup(server, clock)
    t = token(key_a)
    v.verify(t)
    clock.advance(61)
    v.verify(t)  # refetch (a new, equal set): the entry keeps serving
    v.verify(t)
    h = v.health()
    assert server.hits() == 2
    assert h.hits == 2
    assert h.invalidations == 0
    assert h.misses == 1


def test_a_set_past_max_stale_refuses_cached_tokens(
    server: JWKSServer, clock: Clock, key_a: JWK
) -> None:
    server.set(jwks=jwks(key_a), headers={"Cache-Control": "max-age=60"})
    _, v = setup(server, clock, max_stale=100, cooldown=1)
    t = token(key_a)
    v.verify(t)
    server.set(status=500)
    clock.advance(61)
    assert v.verify(t)["sub"] == "alice"  # stale-if-error: served, as a fresh token would be
    clock.advance(100)
    with pytest.raises(JWKSFetchError):
        v.verify(t)


@pytest.mark.anyio
async def test_async_refresh_drops_the_key(
    server: JWKSServer, clock: Clock, key_a: JWK, key_b: JWK
) -> None:
    server.set(jwks=jwks(key_a), headers={"Cache-Control": "max-age=60"})
    remote, v = setup(server, clock)
    t = token(key_a)
    assert (await v.averify(t))["sub"] == "alice"
    assert (await v.averify(t))["sub"] == "alice"
    assert v.health().hits == 1
    server.set(jwks=jwks(key_b), headers={"Cache-Control": "max-age=60"})
    clock.advance(61)
    with pytest.raises(NoMatchingKeyError):
        await v.averify(t)
    await remote.aclose()
