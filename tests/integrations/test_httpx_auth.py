"""ServiceTokenAuth end to end: httpx client -> ASGI app guarded by the keywell middleware."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from keywell import JWK, JWKSet, Verifier, jwt
from keywell.integrations.asgi import BearerAuthMiddleware
from keywell.integrations.httpx import ServiceTokenAuth
from tests.client.jwks_server import Clock


async def echo(request: Request) -> JSONResponse:
    return JSONResponse(
        {"token": request.headers["authorization"][7:], "claims": dict(request.state.claims)}
    )


def guarded(keys: JWKSet, clock: Clock) -> Starlette:
    app = Starlette(routes=[Route("/echo", echo)])
    verifier = Verifier(
        keys, issuer="svc-a", audience="svc-b", required=("exp", "iat", "jti"), clock=clock
    )
    app.add_middleware(BearerAuthMiddleware, verifier=verifier)
    return app


class KeySetIssuer:
    """A stand-in with keywell.Issuer's contract: sign(name, claims, ttl=) with a named set.

    Like the real one it refuses iat/exp/jti from the caller and sets iss, iat, exp, jti.
    """

    def __init__(self, clock: Clock) -> None:
        self.sets = {"services": JWK.generate("EdDSA", kid="svc-1")}
        self.calls = 0
        self._clock = clock

    def sign(self, name: str, claims: Mapping[str, Any], *, ttl: float) -> str:
        self.calls += 1
        if {"iat", "exp", "jti"} & set(claims):
            raise ValueError("iat, exp and jti are set by the issuer, not the caller")
        now = int(self._clock())
        body = {"iss": "svc-a", **claims, "iat": now, "exp": now + int(ttl), "jti": str(self.calls)}
        return jwt.encode(body, self.sets[name])


@pytest.mark.anyio
async def test_service_token_reused_until_near_expiry() -> None:
    clock = Clock()
    key = JWK.generate("ES256", kid="svc-a-1")
    auth = ServiceTokenAuth(
        key,
        issuer="svc-a",
        audience="svc-b",
        ttl=300,
        refresh_margin=30,
        claims={"scope": "x"},
        clock=clock,
    )
    transport = httpx.ASGITransport(app=guarded(JWKSet([key.public()]), clock))
    async with httpx.AsyncClient(transport=transport, base_url="http://svc-b", auth=auth) as client:
        first = (await client.get("/echo")).json()
        assert first["claims"]["iss"] == "svc-a"
        assert first["claims"]["scope"] == "x"
        assert first["claims"]["exp"] - first["claims"]["iat"] == 300
        clock.advance(269)
        again = (await client.get("/echo")).json()
        assert again["token"] == first["token"]
        clock.advance(2)  # within 30 s of expiry: a new token
        fresh = (await client.get("/echo")).json()
        assert fresh["token"] != first["token"]
        assert fresh["claims"]["jti"] != first["claims"]["jti"]
    assert "BEGIN" not in repr(auth)
    assert first["token"] not in repr(auth)


def test_service_token_with_issuer_key_set_sync() -> None:
    clock = Clock()
    issuer = KeySetIssuer(clock)
    auth = ServiceTokenAuth(
        issuer,
        subject="svc-a",
        audience="svc-b",
        key_set="services",
        ttl=60,
        refresh_margin=10,
        clock=clock,
    )
    keys = JWKSet([issuer.sets["services"].public()])
    verifier = Verifier(keys, issuer="svc-a", audience="svc-b", clock=clock)
    tokens = [auth.token() for _ in range(5)]
    assert len(set(tokens)) == 1
    assert issuer.calls == 1
    assert verifier.verify(tokens[0])["sub"] == "svc-a"
    clock.advance(51)
    assert auth.token() != tokens[0]
    assert issuer.calls == 2
    request = httpx.Request("GET", "https://svc-b.example/x")
    flow = auth.sync_auth_flow(request)
    sent = next(flow)
    assert sent.headers["Authorization"] == f"Bearer {auth.token()}"


def test_service_token_misuse() -> None:
    public = JWK.generate("ES256").public()
    with pytest.raises(ValueError, match="cannot sign"):
        ServiceTokenAuth(public, issuer="a", audience="b")
    with pytest.raises(TypeError):
        ServiceTokenAuth(object(), issuer="a", audience="b")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="key_set"):
        ServiceTokenAuth(KeySetIssuer(Clock()), issuer="a", audience="b")
    with pytest.raises(ValueError, match="refresh_margin"):
        ServiceTokenAuth(JWK.generate("ES256"), issuer="a", audience="b", ttl=10, refresh_margin=10)
    with pytest.raises(ValueError, match="'exp'"):
        ServiceTokenAuth(JWK.generate("ES256"), issuer="a", audience="b", claims={"exp": 1})


def test_service_token_with_the_real_issuer(tmp_path: Path) -> None:
    from keywell.issuer import Issuer
    from keywell.store import KEKRing

    issuer = Issuer(f"sqlite:///{tmp_path / 'k.db'}", keks=KEKRing.generate(), auto_upgrade=True)
    try:
        issuer.create_keyset("services", issuer="https://svc-a.test")
        clock = Clock()
        auth = ServiceTokenAuth(
            issuer, audience="svc-b", key_set="services", ttl=60, refresh_margin=10, clock=clock
        )
        first = auth.token()
        assert auth.token() == first
        keys = JWKSet.from_json(issuer.jwks("services").body)
        claims = Verifier(keys, issuer="https://svc-a.test", audience="svc-b").verify(first)
        assert (claims["iss"], claims["aud"]) == ("https://svc-a.test", "svc-b")
        clock.advance(51)
        assert auth.token() != first
    finally:
        issuer.close()
