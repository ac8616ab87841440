"""A FastAPI API that accepts bearer tokens from a keywell key server (or any issuer).

Run it against `make run`'s server::

    uvicorn examples.fastapi_app:app --port 8000

Settings (environment): ``KEYWELL_ISSUER`` (default ``http://127.0.0.1:8080``),
``KEYWELL_JWKS_URL`` (default: the issuer's ``/.well-known/jwks.json``) and
``KEYWELL_AUDIENCE`` (default ``my-api``). Nothing is fetched at import: the
key set is fetched on the first request, so the app starts even while the
issuer is down.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from fastapi import Depends, FastAPI, Request

from keywell import Verifier
from keywell.client import RemoteJWKSet
from keywell.integrations.asgi import BearerAuthMiddleware, RequireToken, add_error_handler

ISSUER = os.environ.get("KEYWELL_ISSUER", "http://127.0.0.1:8080")
JWKS_URL = os.environ.get("KEYWELL_JWKS_URL", f"{ISSUER}/.well-known/jwks.json")
AUDIENCE = os.environ.get("KEYWELL_AUDIENCE", "my-api")

keys = RemoteJWKSet(JWKS_URL)  # fetched on first use, then cached and refreshed
verifier = Verifier(keys, issuer=ISSUER, audience=AUDIENCE)

app = FastAPI(title="orders")
app.add_middleware(BearerAuthMiddleware, verifier=verifier, exempt_paths=["/healthz"])
add_error_handler(app)  # RequireToken's refusals get the RFC 6750 body, as the middleware's


@app.get("/healthz")
def healthz() -> dict[str, str]:
    """Served without a token (exempt path)."""
    return {"status": "ok"}


@app.get("/me")
def me(request: Request) -> dict[str, Any]:
    """Any valid token: the middleware put its claims in ``request.state.claims``."""
    return {"sub": request.state.claims["sub"]}


can_write_orders = RequireToken(scopes="orders:write")


@app.post("/orders")
def create_order(claims: Mapping[str, Any] = Depends(can_write_orders)) -> dict[str, Any]:
    """Needs the ``orders:write`` scope (403 without it)."""
    return {"created_by": claims["sub"]}
