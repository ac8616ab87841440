"""DPoP through Flask's and Django's test clients: the same checks, answers and public URL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.http import HttpRequest, JsonResponse
from django.test import Client, override_settings
from django.urls import path
from flask import Flask, g

import tests.integrations.test_django  # noqa: F401  # configures Django settings once
from keywell import JWK, JWKSet, Verifier, jwt
from keywell.integrations.flask import KeywellFlask
from keywell.jose import DPoPPolicy, make_proof

ISS = "https://as.example"
SIGNER = JWK.generate("ES256", kid="as-1")
CLIENT = JWK.generate("ES256")
PUBLIC = "https://api.example/prefix"


def _verifier() -> Verifier:
    return Verifier(JWKSet([SIGNER.public()]), issuer=ISS, audience="api", dpop=DPoPPolicy())


def _bound(jkt: str | None = CLIENT.thumbprint()) -> str:
    claims: dict[str, Any] = {"iss": ISS, "aud": "api", "exp": int(time.time()) + 300}
    if jkt:
        claims["cnf"] = {"jkt": jkt}
    return jwt.encode(claims, SIGNER)


def _headers(uri: str, token: str, key: JWK = CLIENT, method: str = "GET") -> dict[str, str]:
    return {
        "Authorization": f"DPoP {token}",
        "DPoP": make_proof(key, method, uri, access_token=token),
    }


def _flask(public_url: str | None) -> Any:
    app = Flask(__name__)
    auth = KeywellFlask(app, _verifier(), public_url=public_url)

    @app.get("/items/<n>")
    @auth.require()
    def item(n: str) -> dict[str, Any]:
        return {"n": n, "jkt": g.claims["cnf"]["jkt"]}

    return app.test_client()


@pytest.mark.parametrize("public_url", [None, PUBLIC])
def test_flask_accepts_a_bound_token_with_its_proof_once(public_url: str | None) -> None:
    client = _flask(public_url)
    uri = f"{public_url or 'http://localhost'}/items/a%20b"
    token = _bound()
    headers = _headers(uri, token)
    ok = client.get("/items/a%20b", headers=headers)
    assert ok.status_code == 200, ok.get_json()
    assert ok.get_json() == {"n": "a b", "jkt": CLIENT.thumbprint()}
    replay = client.get("/items/a%20b", headers=headers)
    assert replay.status_code == 401
    assert replay.get_json()["error"] == "invalid_dpop_proof"


def test_flask_refusals_carry_dpop_challenges() -> None:
    client = _flask(PUBLIC)
    token = _bound()
    wrong_host = client.get("/items/1", headers=_headers("http://localhost/items/1", token))
    assert wrong_host.status_code == 401
    assert wrong_host.headers["WWW-Authenticate"].startswith('DPoP error="invalid_dpop_proof"')
    as_bearer = client.get("/items/1", headers={"Authorization": f"Bearer {token}"})
    assert as_bearer.get_json()["error"] == "invalid_token"
    unbound = _bound(None)
    sent = client.get("/items/1", headers=_headers(f"{PUBLIC}/items/1", unbound))
    assert sent.get_json()["error"] == "invalid_token"
    assert client.get("/items/1").headers["WWW-Authenticate"].startswith("DPoP algs=")


def item(request: HttpRequest, n: str) -> JsonResponse:
    return JsonResponse({"n": n, "sub": request.claims.get("sub")})  # type: ignore[attr-defined]


urlpatterns = [path("items/<str:n>", item)]


@pytest.fixture(params=[None, PUBLIC])
def django_client(request: pytest.FixtureRequest) -> Iterator[tuple[Client, str]]:
    with override_settings(
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["keywell.integrations.django.BearerTokenMiddleware"],
        KEYWELL_VERIFIER=_verifier(),
        KEYWELL_PUBLIC_URL=request.param,
    ):
        yield Client(), request.param or "http://testserver"


def test_django_accepts_a_bound_token_with_its_proof_once(
    django_client: tuple[Client, str],
) -> None:
    client, base = django_client
    token = _bound()
    headers = _headers(f"{base}/items/7", token)
    ok = client.get("/items/7", headers=headers)
    assert ok.status_code == 200, ok.content
    again = client.get("/items/7", headers=headers)
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_dpop_proof"
    other_key = _headers(f"{base}/items/7", token, key=JWK.generate("ES256"))
    assert client.get("/items/7", headers=other_key).json()["error"] == "invalid_token"
    post_proof = _headers(f"{base}/items/7", token, method="POST")
    assert client.get("/items/7", headers=post_proof).json()["error"] == "invalid_dpop_proof"
