"""ASGI middleware and FastAPI dependency, end to end through httpx's ASGITransport.

(starlette's AppClient warns without the separate ``httpx2`` package, and
warnings are errors here; ASGITransport drives the same app in-process.)"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse
from starlette.routing import Route

from keywell import JWK, Verifier
from keywell.client import RemoteJWKSet
from keywell.integrations.asgi import BearerAuthMiddleware, RequireToken
from tests.client.jwks_server import JWKSServer, jwks
from tests.integrations.conftest import ISS, bearer, make_token


async def whoami(request: StarletteRequest) -> JSONResponse:
    return JSONResponse({"sub": request.state.claims["sub"]})


async def health(request: StarletteRequest) -> JSONResponse:
    return JSONResponse({"ok": True})


class AppClient:
    """An async in-process client for an ASGI app."""

    def __init__(self, app: Any) -> None:
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        )

    async def __aenter__(self) -> httpx.AsyncClient:
        return await self._client.__aenter__()

    async def __aexit__(self, *exc: Any) -> None:
        await self._client.__aexit__(*exc)


def starlette_app(verifier: Any, **kw: Any) -> Starlette:
    app = Starlette(routes=[Route("/me", whoami), Route("/healthz", health)])
    app.add_middleware(BearerAuthMiddleware, verifier=verifier, **kw)
    return app


@pytest.mark.anyio
async def test_middleware_accepts_valid_token(verifier: Verifier, signing_key: JWK) -> None:
    async with AppClient(starlette_app(verifier)) as client:
        response = await client.get("/me", headers=bearer(make_token(signing_key)))
    assert response.status_code == 200
    assert response.json() == {"sub": "alice"}


@pytest.mark.anyio
async def test_middleware_missing_token_bare_challenge(verifier: Verifier) -> None:
    async with AppClient(starlette_app(verifier, realm="api")) as client:
        response = await client.get("/me")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer realm="api"'
        response = await client.get("/me", headers={"Authorization": "Basic dTpw"})
        assert response.status_code == 401


@pytest.mark.parametrize(
    ("make", "description"),
    [
        (lambda k: make_token(k, exp=int(time.time()) - 100), "expired"),
        (lambda k: make_token(JWK.generate("ES256", kid="int-1")), "signature is invalid"),
        (lambda k: make_token(JWK.generate("ES256", kid="other")), "key is unknown"),
        (lambda k: make_token(k, aud="other"), "claims are not accepted"),
        (lambda k: "not.a.jwt", "malformed"),
    ],
)
@pytest.mark.anyio
async def test_middleware_invalid_token(
    verifier: Verifier, signing_key: JWK, make: Any, description: str
) -> None:
    async with AppClient(starlette_app(verifier)) as client:
        response = await client.get("/me", headers=bearer(make(signing_key)))
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="invalid_token", error_description="')
    assert description in challenge
    assert response.json()["error"] == "invalid_token"


@pytest.mark.anyio
async def test_middleware_scopes(verifier: Verifier, signing_key: JWK) -> None:
    async with AppClient(starlette_app(verifier, scopes="read write")) as client:
        ok_scope = await client.get(
            "/me", headers=bearer(make_token(signing_key, scope="read write x"))
        )
        ok_scp = await client.get(
            "/me", headers=bearer(make_token(signing_key, scp=["write", "read"]))
        )
        short = await client.get("/me", headers=bearer(make_token(signing_key, scope="read")))
    assert ok_scope.status_code == ok_scp.status_code == 200
    assert short.status_code == 403
    assert short.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", '
        'error_description="The access token lacks a required scope", scope="read write"'
    )


@pytest.mark.anyio
async def test_middleware_malformed_header_and_exempt(verifier: Verifier) -> None:
    async with AppClient(starlette_app(verifier, exempt_paths=["/healthz"])) as client:
        assert (await client.get("/healthz")).status_code == 200
        # A look-alike path is not exempt: it needs a token like any other.
        assert (await client.get("/healthz-admin")).status_code == 401
        response = await client.get("/me", headers={"Authorization": "Bearer a b"})
    assert response.status_code == 400
    assert 'error="invalid_request"' in response.headers["www-authenticate"]


@pytest.mark.anyio
async def test_middleware_key_set_unavailable_is_503() -> None:
    server = JWKSServer()
    server.set(status=500)
    try:
        v = Verifier(RemoteJWKSet(server.url()), issuer=ISS, audience="api")
        async with AppClient(starlette_app(v)) as client:
            token = make_token(JWK.generate("ES256"))
            response = await client.get("/me", headers=bearer(token))
    finally:
        server.stop()
    assert response.status_code == 503
    assert "www-authenticate" not in response.headers


@pytest.mark.anyio
async def test_middleware_with_remote_set_over_asgi_transport(signing_key: JWK) -> None:
    server = JWKSServer()
    server.set(jwks=jwks(signing_key))
    try:
        v = Verifier(RemoteJWKSet(server.url()), issuer=ISS, audience="api")
        transport = httpx.ASGITransport(app=starlette_app(v))
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            for _ in range(3):
                response = await client.get("/me", headers=bearer(make_token(signing_key)))
                assert response.json() == {"sub": "alice"}
            assert (await client.get("/me")).status_code == 401
        assert server.hits() == 1
    finally:
        server.stop()


def fastapi_app(verifier: Verifier) -> FastAPI:
    app = FastAPI()
    read = RequireToken(verifier, scopes="read")
    admin = RequireToken(verifier, scopes=["admin"])

    @app.get("/items")
    async def items(claims: Any = Depends(read)) -> dict[str, Any]:  # noqa: B008
        return {"sub": claims["sub"]}

    @app.get("/admin")
    async def admin_view(request: Request, claims: Any = Depends(admin)) -> dict[str, Any]:  # noqa: B008
        return {"sub": request.state.claims["sub"]}

    return app


@pytest.mark.anyio
async def test_fastapi_dependency(verifier: Verifier, signing_key: JWK) -> None:
    async with AppClient(fastapi_app(verifier)) as client:
        ok = await client.get("/items", headers=bearer(make_token(signing_key, scope="read")))
        assert ok.status_code == 200
        assert ok.json() == {"sub": "alice"}
        missing = await client.get("/items")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        bad = await client.get("/items", headers=bearer("x.y.z"))
        assert bad.status_code == 401
        assert bad.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
        forbidden = await client.get(
            "/admin", headers=bearer(make_token(signing_key, scope="read"))
        )
        assert forbidden.status_code == 403
        assert 'error="insufficient_scope", ' in forbidden.headers["www-authenticate"]
        admin = await client.get("/admin", headers=bearer(make_token(signing_key, scp="admin")))
        assert admin.json() == {"sub": "alice"}


@pytest.mark.anyio
async def test_fastapi_dependency_behind_middleware(verifier: Verifier, signing_key: JWK) -> None:
    app = FastAPI()
    dep = RequireToken(scopes="read")

    @app.get("/x")
    async def x(claims: Any = Depends(dep)) -> dict[str, Any]:  # noqa: B008
        return dict(claims)

    app.add_middleware(BearerAuthMiddleware, verifier=verifier)
    async with AppClient(app) as client:
        response = await client.get("/x", headers=bearer(make_token(signing_key, scope="read")))
        assert response.json()["sub"] == "alice"
        no_scope = await client.get("/x", headers=bearer(make_token(signing_key)))
        assert no_scope.status_code == 403
