"""The FastAPI dependency's refusal body: RFC 6750 with the documented two-line setup.

FastAPI renders an ``HTTPException`` raised in a dependency through the app's
handler table (``{"detail": ...}`` by default), and a dependency cannot answer
a response itself, so the documented setup is the middleware plus
``add_error_handler(app)``. Without that line the status and challenge stay
right, the body is FastAPI's, and keywell logs one warning.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi import Depends, FastAPI

from keywell import JWK, Verifier
from keywell.integrations.asgi import BearerAuthMiddleware, RequireToken, add_error_handler
from tests.integrations.conftest import bearer, make_token
from tests.integrations.test_asgi import AppClient

pytestmark = pytest.mark.anyio
# (headers maker, status, RFC 6750 error code or None for a bare challenge)
REFUSALS: list[tuple[str, int, str | None]] = [
    ("none", 401, None),
    ("garbage", 401, "invalid_token"),
    ("no-scope", 403, "insufficient_scope"),
]


def _app(verifier: Verifier, *, handler: bool, middleware: bool) -> FastAPI:
    app = FastAPI()
    if middleware:  # the documented form: the middleware, then add_error_handler(app)
        app.add_middleware(BearerAuthMiddleware, verifier=verifier, exempt_paths=["/orders"])
    if handler:
        add_error_handler(app)
    dependency = RequireToken(verifier, scopes="orders:read")

    @app.get("/orders")
    async def orders(claims: Any = Depends(dependency)) -> dict[str, Any]:  # noqa: B008
        return {"sub": claims["sub"]}

    return app


def _headers(kind: str, key: JWK) -> dict[str, str]:
    if kind == "none":
        return {}
    if kind == "garbage":
        return bearer("x.y.z")
    return bearer(make_token(key, scope="profile"))


@pytest.mark.parametrize("middleware", [True, False], ids=["with-middleware", "dependency-only"])
async def test_the_documented_setup_answers_rfc6750_bodies(
    verifier: Verifier, signing_key: JWK, middleware: bool, caplog: pytest.LogCaptureFixture
) -> None:
    app = _app(verifier, handler=True, middleware=middleware)
    async with AppClient(app) as client:
        for kind, status, error in REFUSALS:
            r = await client.get("/orders", headers=_headers(kind, signing_key))
            assert r.status_code == status
            # RFC 6750 section 3.1: no error code when the request had no credentials
            expected = {"error_description"} if error is None else {"error", "error_description"}
            assert expected <= set(r.json())
            assert "detail" not in r.json()
            assert r.json().get("error") == error
            challenge = r.headers["www-authenticate"]
            assert challenge == "Bearer" if error is None else f'error="{error}"' in challenge
        ok = await client.get(
            "/orders", headers=bearer(make_token(signing_key, scope="orders:read"))
        )
        assert ok.json() == {"sub": "alice"}
    assert "add_error_handler" not in caplog.text


async def test_without_the_handler_fastapi_answers_detail_and_keywell_warns_once(
    verifier: Verifier, signing_key: JWK, caplog: pytest.LogCaptureFixture
) -> None:
    app = _app(verifier, handler=False, middleware=False)
    with caplog.at_level(logging.WARNING, logger="keywell.integrations"):
        async with AppClient(app) as client:
            for kind, status, _ in REFUSALS:
                r = await client.get("/orders", headers=_headers(kind, signing_key))
                assert r.status_code == status
                assert set(r.json()) == {"detail"}
    warnings = [rec for rec in caplog.records if "add_error_handler" in rec.getMessage()]
    assert len(warnings) == 1
