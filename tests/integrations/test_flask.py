"""The Flask extension end to end through Flask's test client."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask, g

from keywell import JWK, Verifier
from keywell.integrations.flask import KeywellFlask
from tests.integrations.conftest import bearer, make_token


def flask_app(verifier: Verifier) -> Flask:
    app = Flask(__name__)
    auth = KeywellFlask()
    auth.init_app(app, verifier)

    @app.get("/me")
    @auth.require()
    def me() -> dict[str, Any]:
        return {"sub": g.claims["sub"]}

    @app.get("/write")
    @auth.require("write")
    def write() -> dict[str, Any]:
        return {"ok": True}

    return app


def test_flask_valid_token(verifier: Verifier, signing_key: JWK) -> None:
    client = flask_app(verifier).test_client()
    response = client.get("/me", headers=bearer(make_token(signing_key)))
    assert response.status_code == 200
    assert response.get_json() == {"sub": "alice"}


def test_flask_refusals(verifier: Verifier, signing_key: JWK) -> None:
    client = flask_app(verifier).test_client()
    missing = client.get("/me")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    expired = client.get("/me", headers=bearer(make_token(signing_key, exp=int(time.time()) - 60)))
    assert expired.status_code == 401
    assert expired.headers["WWW-Authenticate"] == (
        'Bearer error="invalid_token", error_description="The access token expired"'
    )
    assert expired.get_json()["error"] == "invalid_token"
    forged = client.get("/me", headers=bearer(make_token(JWK.generate("ES256", kid="int-1"))))
    assert forged.status_code == 401
    no_scope = client.get("/write", headers=bearer(make_token(signing_key, scope="read")))
    assert no_scope.status_code == 403
    assert 'error="insufficient_scope"' in no_scope.headers["WWW-Authenticate"]
    assert 'scope="write"' in no_scope.headers["WWW-Authenticate"]
    granted = client.get("/write", headers=bearer(make_token(signing_key, scp=["write"])))
    assert granted.status_code == 200


def test_flask_needs_a_verifier() -> None:
    with pytest.raises(TypeError):
        KeywellFlask(Flask(__name__))
