"""RemoteJWKSet against a real loopback server: caching, revalidation, rotation, cooldown."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from keywell import JWK, AlgorithmError, InvalidSignatureError, NoMatchingKeyError, Verifier
from keywell.client import RemoteJWKSet
from tests.client.jwks_server import Clock, JWKSServer, jwks, token

ISS = "https://issuer.example"


def make(server: JWKSServer, clock: Clock, **kw: object) -> RemoteJWKSet:
    return RemoteJWKSet(server.url(), clock=clock, timeout=2.0, **kw)  # type: ignore[arg-type]


def verifier(remote: RemoteJWKSet) -> Verifier:
    return Verifier(remote, issuer=ISS, audience="api")


def test_verifies_and_caches(server: JWKSServer, clock: Clock, key_a: JWK) -> None:
    server.set(jwks=jwks(key_a))
    v = verifier(make(server, clock))
    for _ in range(5):
        assert v.verify(token(key_a))["sub"] == "alice"
    assert server.hits() == 1


@pytest.mark.parametrize(
    ("cache_control", "expected_ttl"),
    [
        ("max-age=120", 120),
        ("public, max-age=5", 60),  # raised to min_ttl
        ("max-age=9999999", 86400),  # capped at max_ttl
        ("no-store", 60),
        ("no-cache", 60),
        (None, 600),  # default_ttl
    ],
)
def test_cache_control_honoured_and_bounded(
    server: JWKSServer, clock: Clock, key_a: JWK, cache_control: str | None, expected_ttl: int
) -> None:
    headers = {"Cache-Control": cache_control} if cache_control else {}
    server.set(jwks=jwks(key_a), headers=headers)
    v = verifier(make(server, clock))
    v.verify(token(key_a))
    clock.advance(expected_ttl - 1)
    v.verify(token(key_a))
    assert server.hits() == 1
    clock.advance(2)
    v.verify(token(key_a))
    assert server.hits() == 2


def test_age_header_reduces_max_age(server: JWKSServer, clock: Clock, key_a: JWK) -> None:
    server.set(jwks=jwks(key_a), headers={"Cache-Control": "max-age=300", "Age": "200"})
    remote = make(server, clock)
    remote.jwks()
    assert remote.health().expires_in == pytest.approx(100)


def test_expires_header_against_date(server: JWKSServer, clock: Clock, key_a: JWK) -> None:
    server.set(
        jwks=jwks(key_a),
        headers={
            "Date": "Sun, 06 Nov 1994 08:49:37 GMT",
            "Expires": "Sun, 06 Nov 1994 08:54:37 GMT",
        },
    )
    remote = make(server, clock)
    remote.jwks()
    assert remote.health().expires_in == pytest.approx(300)


def test_etag_revalidation_304_keeps_parsed_set(
    server: JWKSServer, clock: Clock, key_a: JWK
) -> None:
    server.set(jwks=jwks(key_a), etag='"v1"', headers={"Cache-Control": "max-age=100"})
    remote = make(server, clock)
    v = verifier(remote)
    v.verify(token(key_a))
    first_set = remote.jwks()
    assert "If-None-Match" not in server.last_headers()
    clock.advance(101)
    v.verify(token(key_a))
    assert server.hits() == 2
    assert server.last_headers()["If-None-Match"] == '"v1"'
    assert remote.jwks() is first_set  # a 304 is not re-parsed
    health = remote.health()
    assert (health.fetches, health.not_modified) == (1, 1)
    # the 304 extended the TTL
    clock.advance(99)
    v.verify(token(key_a))
    assert server.hits() == 2


def test_last_modified_revalidation(server: JWKSServer, clock: Clock, key_a: JWK) -> None:
    stamp = "Wed, 21 Oct 2015 07:28:00 GMT"
    server.set(jwks=jwks(key_a), last_modified=stamp)
    remote = make(server, clock)
    remote.jwks()
    clock.advance(601)
    remote.jwks()
    assert server.last_headers()["If-Modified-Since"] == stamp
    assert remote.health().not_modified == 1


def test_rotation_new_kid_one_fetch(
    server: JWKSServer, clock: Clock, key_a: JWK, key_b: JWK
) -> None:
    server.set(jwks=jwks(key_a))
    v = verifier(make(server, clock))
    v.verify(token(key_a))
    clock.advance(31)  # past the cooldown, well within the TTL
    server.set(jwks=jwks(key_a, key_b))
    for _ in range(20):
        assert v.verify(token(key_b))["iss"] == ISS
        assert v.verify(token(key_a))["iss"] == ISS
    assert server.hits() == 2


def test_unknown_kid_within_cooldown_fails_fast(
    server: JWKSServer, clock: Clock, key_a: JWK, key_b: JWK
) -> None:
    server.set(jwks=jwks(key_a))
    v = verifier(make(server, clock))
    v.verify(token(key_a))
    clock.advance(10)
    with pytest.raises(NoMatchingKeyError, match="cooldown 30s") as info:
        v.verify(token(key_b))
    assert info.value.code == "KW_NO_MATCHING_KEY"
    assert server.hits() == 1
    clock.advance(21)  # cooldown over: exactly one refetch, the kid still absent
    with pytest.raises(NoMatchingKeyError):
        v.verify(token(key_b))
    assert server.hits() == 2
    server.set(jwks=jwks(key_a, key_b))
    clock.advance(31)  # nothing remembers the kid past the cooldown: one refetch finds it
    assert v.verify(token(key_b))["sub"] == "alice"
    assert server.hits() == 3


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_kid_published_after_a_refused_token_is_found_after_the_cooldown(
    server: JWKSServer, key_a: JWK, key_b: JWK, mode: str
) -> None:
    """Issue 10 kind C on the real clock: cooldown 0.5, tokens for B at +0.6 s and +1.2 s."""
    server.set(jwks=jwks(key_a))
    v = Verifier(RemoteJWKSet(server.url(), cooldown=0.5, timeout=2.0), issuer=ISS, audience="api")

    def check(tok: str) -> str:
        if mode == "sync":
            return str(v.verify(tok)["sub"])
        return str(asyncio.run(v.averify(tok))["sub"])

    assert check(token(key_a)) == "alice"
    time.sleep(0.55)
    with pytest.raises(NoMatchingKeyError):  # B not yet published: one refetch
        check(token(key_b))
    assert server.hits() == 2
    server.set(jwks=jwks(key_a, key_b))
    time.sleep(0.6)
    assert check(token(key_b)) == "alice"  # +0.6 s: one refetch finds B
    time.sleep(0.6)
    assert check(token(key_b)) == "alice"  # +1.2 s: served from the cache
    assert server.hits() == 3


def test_token_without_kid_uses_current_set(
    server: JWKSServer, clock: Clock, key_a: JWK, key_b: JWK
) -> None:
    server.set(jwks=jwks(key_a))
    v = verifier(make(server, clock))
    v.verify(token(key_a))
    clock.advance(100)
    assert v.verify(token(key_a, no_kid=True))["sub"] == "alice"
    with pytest.raises(InvalidSignatureError):
        v.verify(token(key_b, no_kid=True))
    assert server.hits() == 1


def test_unusable_keys_are_never_used(server: JWKSServer, clock: Clock, key_a: JWK) -> None:
    enc_key = JWK.generate("ES256", kid="enc")
    ops_key = JWK.generate("ES256", kid="ops")
    enc = {**enc_key.to_dict(), "use": "enc"}
    enc.pop("alg", None)
    ops = {**ops_key.to_dict(), "key_ops": ["encrypt"]}
    server.set(jwks={"keys": [*jwks(key_a)["keys"], enc, ops]})
    v = verifier(make(server, clock))
    v.verify(token(key_a))
    for signer in (enc_key, ops_key):
        # the signature would verify: the refusal comes from use/key_ops alone
        with pytest.raises((AlgorithmError, NoMatchingKeyError)):
            v.verify(token(signer))
    assert server.hits() == 1


def test_jku_header_never_fetched(server: JWKSServer, clock: Clock, key_a: JWK) -> None:
    attacker = JWK.generate("ES256", kid="key-a")
    server.set("/evil", jwks=jwks(attacker))
    server.set(jwks=jwks(key_a))
    v = verifier(make(server, clock))
    from keywell import jws

    bad = jws.sign(
        b'{"iss":"https://issuer.example","aud":"api","exp":9999999999}',
        attacker,
        headers={"jku": server.url("/evil"), "x5u": server.url("/evil")},
    )
    with pytest.raises(InvalidSignatureError):
        v.verify(bad)
    assert server.hits("/evil") == 0


def test_get_key_and_health(server: JWKSServer, clock: Clock, key_a: JWK) -> None:
    server.set(jwks=jwks(key_a), etag='"e"')
    remote = make(server, clock)
    assert remote.health().state == "empty"
    assert remote.get_key("key-a").thumbprint() == key_a.thumbprint()
    health = remote.health()
    assert (health.state, health.kids, health.etag, health.age) == ("fresh", ("key-a",), '"e"', 0)
    with pytest.raises(NoMatchingKeyError, match="key-zzz"):
        remote.get_key("key-zzz")
    assert "Authorization" not in repr(remote)


def test_request_headers_sent_not_shown(server: JWKSServer, clock: Clock, key_a: JWK) -> None:
    server.set(jwks=jwks(key_a))
    remote = make(server, clock, headers={"Authorization": "Bearer s3cret"})
    remote.jwks()
    assert server.last_headers()["Authorization"] == "Bearer s3cret"
    assert "s3cret" not in repr(remote)


def test_refresh_ahead_serves_without_waiting(
    server: JWKSServer, clock: Clock, key_a: JWK, key_b: JWK
) -> None:
    server.set(jwks=jwks(key_a), headers={"Cache-Control": "max-age=100"})
    remote = make(server, clock, refresh_ahead=20)
    v = verifier(remote)
    v.verify(token(key_a))
    gate = threading.Event()
    server.set(jwks=jwks(key_a, key_b), headers={"Cache-Control": "max-age=100"}, gate=gate)
    clock.advance(85)  # inside the refresh-ahead window
    assert v.verify(token(key_a))["sub"] == "alice"  # served while the refresh is held
    assert remote.health().fetches == 1
    gate.set()
    for _ in range(500):
        if remote.health().fetches == 2:
            break
        time.sleep(0.01)
    assert remote.health().fetches == 2
    assert v.verify(token(key_b))["sub"] == "alice"
    assert server.hits() == 2
    remote.close()


@pytest.mark.anyio
async def test_async_refresh_ahead_task(
    server: JWKSServer, clock: Clock, key_a: JWK, key_b: JWK
) -> None:
    server.set(jwks=jwks(key_a), headers={"Cache-Control": "max-age=100"})
    async with make(server, clock, refresh_ahead=20) as remote:
        v = verifier(remote)
        await v.averify(token(key_a))
        server.set(jwks=jwks(key_a, key_b), headers={"Cache-Control": "max-age=100"})
        clock.advance(85)
        await v.averify(token(key_a))
        assert remote.health().fetches == 1
    assert remote.health().fetches == 2  # aclose waited for the background task
    assert (await v.averify(token(key_b)))["sub"] == "alice"


@pytest.mark.anyio
async def test_async_verify_and_rotation(
    server: JWKSServer, clock: Clock, key_a: JWK, key_b: JWK
) -> None:
    server.set(jwks=jwks(key_a))
    remote = make(server, clock)
    v = verifier(remote)
    assert (await v.averify(token(key_a)))["sub"] == "alice"
    clock.advance(31)
    server.set(jwks=jwks(key_a, key_b))
    assert (await v.averify(token(key_b)))["sub"] == "alice"
    assert (await remote.aget_key("key-b")).kid == "key-b"
    with pytest.raises(NoMatchingKeyError):
        await v.averify(token(JWK.generate("ES256", kid="nope")))
    assert server.hits() == 2


def test_failure_is_logged_without_secrets(
    server: JWKSServer, clock: Clock, key_a: JWK, caplog: pytest.LogCaptureFixture
) -> None:
    server.set(jwks=jwks(key_a))
    remote = RemoteJWKSet(
        server.url() + "?api_key=s3cret", clock=clock, headers={"X-Key": "s3cret"}
    )
    remote.jwks()
    server.set(status=500)
    clock.advance(601)
    with caplog.at_level(logging.WARNING, logger="keywell.client"):
        remote.jwks()
    assert "HTTP 500" in caplog.text
    assert "s3cret" not in caplog.text
    assert "s3cret" not in repr(remote)


def test_removed_key_stops_verifying_after_refresh(
    server: JWKSServer, clock: Clock, key_a: JWK, key_b: JWK
) -> None:
    server.set(jwks=jwks(key_a), headers={"Cache-Control": "max-age=120"})
    remote = make(server, clock)
    v = verifier(remote)
    for _ in range(3):  # warm: answered from the memo
        v.verify(token(key_a))
    server.set(jwks=jwks(key_b), headers={"Cache-Control": "max-age=120"})
    clock.advance(121)
    assert v.verify(token(key_b))["sub"] == "alice"
    with pytest.raises(NoMatchingKeyError):
        v.verify(token(key_a))
    assert server.hits() == 2


@pytest.mark.anyio
async def test_sync_and_async_callers_share_one_instance(
    server: JWKSServer, clock: Clock, key_a: JWK
) -> None:
    import asyncio

    server.set(jwks=jwks(key_a), delay=0.2)
    remote = make(server, clock)
    v = verifier(remote)
    tok = token(key_a)
    results = await asyncio.gather(
        asyncio.to_thread(v.verify, tok), v.averify(tok), asyncio.to_thread(v.verify, tok)
    )
    assert [r["sub"] for r in results] == ["alice"] * 3
    assert server.hits() == 1


@pytest.mark.parametrize(
    ("headers", "expected_ttl"),
    [
        ({"Cache-Control": "max-age=\u00b2"}, 600),  # a digit to str.isdigit, not to int()
        ({"Cache-Control": "max-age=" + "9" * 5000}, 600),  # beyond int()'s digit limit
        ({"Cache-Control": "max-age=300", "Age": "\u00b9"}, 300),  # the odd Age is ignored
    ],
    ids=["superscript-max-age", "5000-digit-max-age", "superscript-age"],
)
def test_odd_cache_headers_fall_back_to_the_default_ttl(
    server: JWKSServer, clock: Clock, key_a: JWK, headers: dict[str, str], expected_ttl: int
) -> None:
    server.set(jwks=jwks(key_a), headers=headers)
    remote = make(server, clock)
    v = verifier(remote)
    assert v.verify(token(key_a))["sub"] == "alice"
    expires_in = remote.health().expires_in
    assert expires_in is not None
    assert expires_in == pytest.approx(expected_ttl)
    clock.advance(700)  # the set still refreshes: no fetch is left wedged
    assert v.verify(token(key_a))["sub"] == "alice"
    assert server.hits() == 2


def test_asks_for_an_uncompressed_body(server: JWKSServer, clock: Clock, key_a: JWK) -> None:
    server.set(jwks=jwks(key_a))
    make(server, clock).jwks()
    assert server.last_headers()["Accept-Encoding"] == "identity"


def test_failed_refetch_for_an_unknown_kid_is_retried_after_the_cooldown(
    server: JWKSServer, clock: Clock, key_a: JWK, key_b: JWK
) -> None:
    server.set(jwks=jwks(key_a))
    v = verifier(make(server, clock))
    v.verify(token(key_a))
    server.set(status=503)
    clock.advance(31)
    with pytest.raises(NoMatchingKeyError, match="that fetch failed: HTTP 503"):
        v.verify(token(key_b))
    assert v.verify(token(key_a))["sub"] == "alice"  # the last good set is kept
    clock.advance(10)
    with pytest.raises(NoMatchingKeyError, match="HTTP 503"):  # within the cooldown: no fetch
        v.verify(token(key_b))
    assert server.hits() == 2
    server.set(jwks=jwks(key_a, key_b))
    clock.advance(21)
    assert v.verify(token(key_b))["sub"] == "alice"
    assert server.hits() == 3


def test_multi_issuer_unknown_kid_refetches_only_that_issuer_after_the_cooldown(
    server: JWKSServer, clock: Clock, key_a: JWK, key_b: JWK
) -> None:
    from keywell.client import MultiIssuerVerifier

    other = "https://other.example"
    server.set("/one", jwks=jwks(key_a))
    server.set("/two", jwks=jwks(key_a))
    multi = MultiIssuerVerifier(
        {
            ISS: RemoteJWKSet(server.url("/one"), clock=clock, cooldown=0.5),
            other: RemoteJWKSet(server.url("/two"), clock=clock, cooldown=0.5),
        },
        audience="api",
    )
    assert multi.verify(token(key_a))["iss"] == ISS
    assert multi.verify(token(key_a, iss=other))["iss"] == other
    clock.advance(0.6)
    with pytest.raises(NoMatchingKeyError):
        multi.verify(token(key_b))
    server.set("/one", jwks=jwks(key_a, key_b))
    clock.advance(0.6)
    assert multi.verify(token(key_b))["iss"] == ISS
    assert (server.hits("/one"), server.hits("/two")) == (3, 1)
