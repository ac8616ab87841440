"""A Flask API that accepts bearer tokens from a keywell key server (or any issuer).

Run it against `make run`'s server::

    flask --app examples.flask_app run --port 8000

Settings as in ``fastapi_app.py``: ``KEYWELL_ISSUER``, ``KEYWELL_JWKS_URL``,
``KEYWELL_AUDIENCE``. The key set is fetched on the first request.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, g

from keywell import Verifier
from keywell.client import RemoteJWKSet
from keywell.integrations.flask import KeywellFlask

ISSUER = os.environ.get("KEYWELL_ISSUER", "http://127.0.0.1:8080")
JWKS_URL = os.environ.get("KEYWELL_JWKS_URL", f"{ISSUER}/.well-known/jwks.json")
AUDIENCE = os.environ.get("KEYWELL_AUDIENCE", "my-api")

keys = RemoteJWKSet(JWKS_URL)  # fetched on first use, then cached and refreshed
auth = KeywellFlask(verifier=Verifier(keys, issuer=ISSUER, audience=AUDIENCE))


def create_app() -> Flask:
    """The application factory (``flask --app examples.flask_app run`` finds it)."""
    app = Flask(__name__)
    auth.init_app(app)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/me")
    @auth.require()
    def me() -> dict[str, Any]:
        return {"sub": g.claims["sub"]}

    @app.post("/orders")
    @auth.require("orders:write")
    def create_order() -> dict[str, Any]:
        return {"created_by": g.claims["sub"]}

    return app
