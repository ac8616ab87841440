"""A service that issues its own tokens with an embedded keywell Issuer (no key server).

It keeps a ``default`` ES256 key set in SQLite, rotates it on a schedule
(``tick`` on every request here; a real service runs it from a timer), signs
tokens at ``POST /token`` and publishes its JWK Set, with the right caching
headers, at ``/.well-known/jwks.json``. Run::

    export KEYWELL_KEK_FILE=/run/secrets/keywell-keks     # keywell kek generate > ...
    uvicorn examples.issuer_service:app --port 8000

Settings (environment): ``KEYWELL_DATABASE_URL`` (default
``sqlite:///issuer-service.db``), ``KEYWELL_ISSUER`` (default
``http://127.0.0.1:8000``). This example trusts the caller's ``user`` field:
put your real login in front of it.
"""

from __future__ import annotations

import os
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request, Response
from pydantic import BaseModel

from keywell import Issuer, KeySetNotFoundError

DATABASE_URL = os.environ.get("KEYWELL_DATABASE_URL", "sqlite:///issuer-service.db")
ISSUER = os.environ.get("KEYWELL_ISSUER", "http://127.0.0.1:8000")

issuer = Issuer(DATABASE_URL, auto_upgrade=True)
try:
    issuer.get_keyset("default")
except KeySetNotFoundError:
    issuer.create_keyset("default", issuer=ISSUER, alg="ES256")

app = FastAPI(title="issuer-service")


class TokenRequest(BaseModel):
    """Who the token is for and which API it is meant for."""

    user: str
    audience: str
    ttl: int = 300


@app.post("/token")
async def token(body: TokenRequest) -> dict[str, Any]:
    """Sign a token with the active key (store I/O off the event loop)."""

    def sign() -> str:
        issuer.tick()
        return issuer.sign("default", {"sub": body.user, "aud": body.audience}, ttl=body.ttl)

    return {"token": await anyio.to_thread.run_sync(sign), "token_type": "Bearer"}


@app.get("/.well-known/jwks.json")
async def jwks(request: Request) -> Response:
    """The published set with its strong ETag and Cache-Control (304 on a match)."""
    published = await anyio.to_thread.run_sync(issuer.jwks, "default")
    headers = {"ETag": published.etag, "Cache-Control": published.cache_control}
    if request.headers.get("if-none-match") == published.etag:
        return Response(status_code=304, headers=headers)
    return Response(published.body, media_type="application/jwk-set+json", headers=headers)
