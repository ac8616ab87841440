"""Outages and bad answers: the last good set serves until max_stale, then a clear error."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from keywell import JWK, JWKSFetchError, Verifier
from keywell.client import RemoteJWKSet
from tests.client.jwks_server import Clock, JWKSServer, jwks, token

ISS = "https://issuer.example"


def _down(server: JWKSServer, key: JWK) -> None:
    server.stop()


def _status(code: int) -> Callable[[JWKSServer, JWK], None]:
    def fault(server: JWKSServer, key: JWK) -> None:
        server.set(status=code, body=b'{"error":"boom"}')

    return fault


def _timeout(server: JWKSServer, key: JWK) -> None:
    server.set(jwks=jwks(key), delay=4.0)  # well past the 2 s client timeout


def _invalid_json(server: JWKSServer, key: JWK) -> None:
    server.set(body=b'{"keys": [')


def _huge(server: JWKSServer, key: JWK) -> None:
    server.set(body=b" " * (10 * 1024 * 1024))


def _huge_unannounced(server: JWKSServer, key: JWK) -> None:
    # 10 MB of valid-looking JSON: the limit is enforced while streaming too
    server.set(body=b'{"keys": [' + b" " * (10 * 1024 * 1024) + b"]}")


def _html(server: JWKSServer, key: JWK) -> None:
    server.set(body=b"<html>login</html>", headers={"Content-Type": "text/html"})


def _no_usable_key(server: JWKSServer, key: JWK) -> None:
    enc = {**JWK.generate("ES256", kid="e").to_dict(), "use": "enc"}
    enc.pop("alg", None)
    server.set(jwks={"keys": [enc, {"kty": "XYZ", "kid": "x"}]})


def _private_key(server: JWKSServer, key: JWK) -> None:
    server.set(jwks={"keys": [key.to_dict(private=True)]})


def _symmetric(server: JWKSServer, key: JWK) -> None:
    server.set(jwks={"keys": [JWK.from_secret(b"k" * 32, kid="h").to_dict(private=True)]})


def _redirect(server: JWKSServer, key: JWK) -> None:
    server.set("/moved", jwks=jwks(key))
    server.set(status=302, headers={"Location": server.url("/moved")})


def _dropped(server: JWKSServer, key: JWK) -> None:
    server.set(drop=True)


FAULTS = {
    "server down": (_down, "ConnectError"),
    "HTTP 500": (_status(500), "HTTP 500"),
    "HTTP 404": (_status(404), "HTTP 404"),
    "timeout": (_timeout, "timed out"),
    "invalid JSON": (_invalid_json, "not valid JSON"),
    "10 MB body": (_huge, "exceeds max_bytes"),
    "10 MB body streamed": (_huge_unannounced, "exceeds max_bytes"),
    "HTML": (_html, "content type"),
    "no usable key": (_no_usable_key, "no key usable"),
    "private key": (_private_key, "private members"),
    "symmetric key": (_symmetric, "symmetric"),
    "redirect": (_redirect, "redirect refused"),
    "connection dropped": (_dropped, "RemoteProtocolError"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_last_good_set_until_max_stale(
    fault: str, server: JWKSServer, clock: Clock, key_a: JWK
) -> None:
    make_fault, reason = FAULTS[fault]
    server.set(jwks=jwks(key_a), headers={"Cache-Control": "max-age=100"})
    remote = RemoteJWKSet(
        server.url(), clock=clock, timeout=2.0, max_stale=1000, max_bytes=64 * 1024
    )
    v = Verifier(remote, issuer=ISS, audience="api")
    good = remote.jwks()
    v.verify(token(key_a))
    make_fault(server, key_a)

    clock.advance(101)  # expired: a refetch is attempted and fails
    assert v.verify(token(key_a))["sub"] == "alice"
    health = remote.health()
    assert health.state == "stale"
    assert health.last_error is not None
    assert reason in health.last_error
    assert health.consecutive_failures == 1
    assert remote.jwks() is good  # a bad answer never replaces the good set

    clock.advance(500)  # still within max_stale: retried once per cooldown, still serving
    assert v.verify(token(key_a))["sub"] == "alice"
    assert remote.health().failures == 2

    clock.advance(501)  # past expiry + max_stale
    with pytest.raises(JWKSFetchError, match="unavailable") as info:
        v.verify(token(key_a))
    assert reason in info.value.message
    assert info.value.code == "KW_JWKS_FETCH"
    assert remote.health().state == "expired"
    if server.running:
        server.set(jwks=jwks(key_a))
        clock.advance(31)
        assert v.verify(token(key_a))["sub"] == "alice"  # recovers
        assert remote.health().consecutive_failures == 0
    remote.close()


def test_cold_start_failure_is_clear_and_rate_limited(server: JWKSServer, clock: Clock) -> None:
    server.set(status=503)
    remote = RemoteJWKSet(server.url(), clock=clock)
    with pytest.raises(JWKSFetchError, match="HTTP 503"):
        remote.jwks()
    with pytest.raises(JWKSFetchError, match="no set fetched yet"):
        remote.jwks()
    assert server.hits() == 1
    assert remote.health().state == "empty"


def test_redirect_followed_only_when_enabled(server: JWKSServer, clock: Clock, key_a: JWK) -> None:
    server.set("/moved", jwks=jwks(key_a))
    server.set(status=301, headers={"Location": server.url("/moved")})
    refused = RemoteJWKSet(server.url(), clock=clock)
    with pytest.raises(JWKSFetchError, match="HTTP 301 redirect refused"):
        refused.jwks()
    assert server.hits("/moved") == 0
    allowed = RemoteJWKSet(server.url(), clock=clock, follow_redirects=True)
    assert allowed.get_key("key-a").kid == "key-a"


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_async_outage_keeps_good_set(
    server: JWKSServer, clock: Clock, key_a: JWK, anyio_backend: str
) -> None:
    server.set(jwks=jwks(key_a))
    remote = RemoteJWKSet(server.url(), clock=clock, max_stale=100)
    v = Verifier(remote, issuer=ISS, audience="api")
    await v.averify(token(key_a))
    server.set(status=500)
    clock.advance(601)
    assert (await v.averify(token(key_a)))["sub"] == "alice"
    clock.advance(100)
    with pytest.raises(JWKSFetchError, match="HTTP 500"):
        await v.averify(token(key_a))
