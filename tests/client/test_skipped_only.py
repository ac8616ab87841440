"""A remote set whose only keys are skipped (issue 12 item 6), on a real loopback server.

The rule (keywell.client.cache): a set whose every key was skipped is the
server's real answer: with no usable set cached it is adopted, so a token
naming a skipped key gets ``SkippedKeyError`` saying why, and other kids
``NoMatchingKeyError``, never ``JWKSFetchError`` (which integrations answer
503). It never replaces a set with a usable key (then it is a failed fetch),
and an answer with no key at all is still a failure. A skipped kid is known:
no refetch for it.
"""

from __future__ import annotations

import json
import time
from functools import cache
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from keywell import JWK, Verifier
from keywell.client import RemoteJWKSet
from keywell.errors import JWKSFetchError, NoMatchingKeyError, SkippedKeyError
from keywell.jose.base64url import b64url_encode
from keywell.jose.jwk_convert import key_to_members
from keywell.jose.jws import compact
from tests.client.jwks_server import Clock, JWKSServer, jwks, token

ISS = "https://issuer.example"


@cache
def _weak() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 -- the point


def _weak_jwks(*extra: dict[str, Any]) -> dict[str, Any]:
    members = key_to_members(_weak().public_key())
    return {"keys": [{**members, "kid": "legacy", "alg": "RS256", "use": "sig"}, *extra]}


def _weak_token(kid: str = "legacy") -> str:
    header = b64url_encode(json.dumps({"alg": "RS256", "kid": kid}).encode())
    claims = {"iss": ISS, "aud": "api", "sub": "u", "exp": int(time.time()) + 600}
    sign = lambda data: _weak().sign(data, padding.PKCS1v15(), hashes.SHA256())  # noqa: E731
    return compact(header, json.dumps(claims).encode(), sign)


def _verifier(remote: RemoteJWKSet) -> Verifier:
    return Verifier(remote, issuer=ISS, audience="api")


def test_a_token_naming_a_skipped_key_says_why(server: JWKSServer) -> None:
    server.set(jwks=_weak_jwks(), headers={"Cache-Control": "max-age=300"})
    verifier = _verifier(RemoteJWKSet(server.url(), timeout=2.0, cooldown=30))
    with pytest.raises(SkippedKeyError) as caught:
        verifier.verify(_weak_token())
    assert caught.value.kid == "legacy"
    assert "1024" in caught.value.reason
    assert "allow_weak_rsa" in str(caught.value)
    with pytest.raises(SkippedKeyError):
        verifier.verify(_weak_token())  # a skipped kid is known: no refetch for it
    with pytest.raises(NoMatchingKeyError) as other:
        verifier.verify(_weak_token("other"))  # within the cooldown: no refetch either
    assert not isinstance(other.value, SkippedKeyError)
    assert server.hits() == 1


@pytest.mark.anyio
async def test_async_a_token_naming_a_skipped_key_says_why(server: JWKSServer) -> None:
    server.set(jwks=_weak_jwks())
    remote = RemoteJWKSet(server.url(), timeout=2.0)
    with pytest.raises(SkippedKeyError):
        await _verifier(remote).averify(_weak_token())
    assert remote.health().state == "fresh"


def test_a_skipped_only_answer_never_replaces_a_usable_set(
    server: JWKSServer, clock: Clock, key_a: JWK
) -> None:
    server.set(jwks=jwks(key_a), headers={"Cache-Control": "max-age=60"})
    remote = RemoteJWKSet(server.url(), timeout=2.0, cooldown=1, clock=clock)  # type: ignore[arg-type]
    verifier = _verifier(remote)
    assert verifier.verify(token(key_a))["sub"] == "alice"
    server.set(jwks=_weak_jwks(), headers={"Cache-Control": "max-age=60"})
    clock.advance(61)  # expired: the next lookup refetches and gets only a skipped key
    assert verifier.verify(token(key_a))["sub"] == "alice"  # stale-if-error keeps key-a
    assert server.hits() == 2
    health = remote.health()
    assert health.kids == ("key-a",)
    assert health.last_error == "the set holds no key usable for verification (1 skipped)"
    with pytest.raises(NoMatchingKeyError):
        verifier.verify(_weak_token())  # the skipped-only answer was not adopted


def test_a_usable_set_replaces_a_skipped_only_one(
    server: JWKSServer, clock: Clock, key_a: JWK
) -> None:
    server.set(jwks=_weak_jwks())
    remote = RemoteJWKSet(server.url(), timeout=2.0, cooldown=1, clock=clock)  # type: ignore[arg-type]
    verifier = _verifier(remote)
    with pytest.raises(SkippedKeyError):
        verifier.verify(_weak_token())
    server.set(jwks=_weak_jwks(key_a.public().to_dict()))  # the realm adds a strong key
    clock.advance(1.5)  # past the cooldown: a new kid refetches
    assert verifier.verify(token(key_a))["sub"] == "alice"
    with pytest.raises(SkippedKeyError):
        verifier.verify(_weak_token())


def test_a_set_of_only_invalid_keys_is_adopted_too(server: JWKSServer) -> None:
    """Any skipped key (a signature alg on a "use": "enc" key here) is reported by its kid."""
    enc = {**JWK.generate("ES256", kid="enc-1").public().to_dict(), "use": "enc"}
    server.set(jwks={"keys": [enc]})
    with pytest.raises(SkippedKeyError, match="enc"):
        _verifier(RemoteJWKSet(server.url(), timeout=2.0)).verify(_weak_token("enc-1"))


ALL_GARBAGE = {"no keys": {"keys": []}, "not a set": {"kty": "EC"}, "keys not a list": {"keys": {}}}


@pytest.mark.parametrize("doc", ALL_GARBAGE.values(), ids=list(ALL_GARBAGE))
def test_a_set_with_no_key_at_all_is_still_a_failure(server: JWKSServer, doc: Any) -> None:
    server.set(jwks=doc)
    with pytest.raises(JWKSFetchError):
        _verifier(RemoteJWKSet(server.url(), timeout=2.0)).verify(_weak_token())


@pytest.mark.anyio
async def test_the_middleware_answers_401_naming_the_skipped_key(server: JWKSServer) -> None:
    """Before, the middleware answered 503 (JWK Set unavailable) for every token."""
    from tests.integrations.test_asgi import AppClient, starlette_app

    server.set(jwks=_weak_jwks())
    app = starlette_app(_verifier(RemoteJWKSet(server.url(), timeout=2.0)))
    async with AppClient(app) as client:
        r = await client.get("/me", headers={"Authorization": f"Bearer {_weak_token()}"})
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
