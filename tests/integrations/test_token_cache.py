"""The integrations verify through the Verifier, so its token cache serves repeated requests.

A cached token is refused like a fresh one once it expires (401, never a 500),
and the cache never holds a refused token.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, g

from keywell import JWK, JWKSet, Verifier
from keywell.integrations.flask import KeywellFlask
from tests.integrations.conftest import ISS, bearer, make_token
from tests.integrations.test_asgi import AppClient, starlette_app


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def cached_verifier(key: JWK, clock: Clock) -> Verifier:
    return Verifier(JWKSet([key.public()]), issuer=ISS, audience="api", clock=clock)


def flask_client(verifier: Verifier) -> Any:
    app = Flask(__name__)
    auth = KeywellFlask()
    auth.init_app(app, verifier)

    @app.get("/me")
    @auth.require()
    def me() -> dict[str, Any]:
        return {"sub": g.claims["sub"]}

    return app.test_client()


def test_flask_requests_hit_the_cache_until_exp(signing_key: JWK) -> None:
    token = make_token(signing_key, exp=2_000_000_100)
    clock = Clock(2_000_000_000)
    verifier = cached_verifier(signing_key, clock)
    client = flask_client(verifier)
    for _ in range(3):
        assert client.get("/me", headers=bearer(token)).get_json() == {"sub": "alice"}
    assert verifier.health().hits == 2
    clock.now = 2_000_000_100
    assert client.get("/me", headers=bearer(token)).status_code == 401
    assert verifier.health().entries == 0


@pytest.mark.anyio
async def test_asgi_requests_hit_the_cache_until_exp(signing_key: JWK) -> None:
    token = make_token(signing_key, exp=2_000_000_100)
    forged = make_token(JWK.generate("ES256", kid=signing_key.kid), exp=2_000_000_100)
    clock = Clock(2_000_000_000)
    verifier = cached_verifier(signing_key, clock)
    async with AppClient(starlette_app(verifier)) as client:
        for _ in range(3):
            assert (await client.get("/me", headers=bearer(token))).json() == {"sub": "alice"}
            assert (await client.get("/me", headers=bearer(forged))).status_code == 401
        assert verifier.health().hits == 2
        assert verifier.health().entries == 1
        clock.now = 2_000_000_100
        assert (await client.get("/me", headers=bearer(token))).status_code == 401
