"""A nonce source that hands out text no header can carry is a 503, never a 500 or an injection.

RFC 9449 section 8.1: a nonce is ``1*NQCHAR`` (printable ASCII without ``"``
and ``\\``). A custom :class:`~keywell.jose.NonceSource` may return anything;
whatever it returns (CR/LF, quotes, spaces, non-ASCII, empty, not a string),
the integrations never put it in a ``DPoP-Nonce`` header: the server's own
part failed, so the answer is 503 without a challenge, as for a failed
replay store. A proper nonce still gets the ``use_dpop_nonce`` challenge.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.http import HttpRequest, JsonResponse
from django.test import Client, override_settings
from django.urls import path
from flask import Flask

import tests.integrations.test_django  # noqa: F401  # configures Django settings once
from keywell import Verifier
from keywell.integrations.asgi import BearerAuthMiddleware
from keywell.integrations.flask import KeywellFlask
from keywell.jose import DPoPPolicy
from tests.jose.dpop_helpers import ISSUER, NOW, TOKEN, good_proof

PUBLIC = "https://api.example"
BAD = ['a"b', "a\r\nSet-Cookie: x=1", "a\nb", "a b", "a\\b", "caf\u00e9", "", "\x7f", None, 42]
GOOD = "AbC-._~!#$%&'()*+,/:;<=>?@[]^`{|}"


class Nonces:
    def __init__(self, value: Any) -> None:
        self.value = value

    def issue(self, now: float) -> Any:
        return self.value

    def is_current(self, nonce: str, now: float) -> bool:
        return False


def _verifier(nonce: Any) -> Verifier:
    policy = DPoPPolicy(nonces=Nonces(nonce))
    return Verifier(
        ISSUER.public(), issuer="https://as.example", audience="api", clock=lambda: NOW, dpop=policy
    )


def _headers(path: str) -> dict[str, str]:
    proof = good_proof(htu=PUBLIC + path)
    return {"Authorization": f"DPoP {TOKEN}", "DPoP": proof}


def _flask(nonce: Any) -> tuple[int, dict[str, str]]:
    app = Flask(__name__)
    auth = KeywellFlask(app, _verifier(nonce), public_url=PUBLIC)

    @app.get("/orders")
    @auth.require()
    def orders() -> dict[str, Any]:
        return {"ok": True}

    response = app.test_client().get("/orders", headers=_headers("/orders"))
    return response.status_code, dict(response.headers)


def item(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


urlpatterns = [path("orders", item)]


def _django(nonce: Any) -> tuple[int, dict[str, str]]:
    with override_settings(
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["keywell.integrations.django.BearerTokenMiddleware"],
        KEYWELL_VERIFIER=_verifier(nonce),
        KEYWELL_PUBLIC_URL=PUBLIC,
    ):
        response = Client().get("/orders", headers=_headers("/orders"))
    return response.status_code, dict(response.headers)


def _asgi(nonce: Any) -> tuple[int, dict[str, str]]:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    guarded = BearerAuthMiddleware(app, _verifier(nonce), public_url=PUBLIC)
    scope = {
        "type": "http",
        "method": "GET",
        "scheme": "https",
        "path": "/orders",
        "raw_path": b"/orders",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in _headers("/orders").items()],
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(guarded(scope, receive, send))
    start = sent[0]
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}


FRAMEWORKS = {"flask": _flask, "django": _django, "asgi": _asgi}


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
@pytest.mark.parametrize("nonce", BAD, ids=repr)
def test_a_nonce_no_header_can_carry_is_a_503(framework: str, nonce: Any) -> None:
    status, headers = FRAMEWORKS[framework](nonce)
    assert status == 503
    names = {name.lower() for name in headers}
    assert "dpop-nonce" not in names
    assert "www-authenticate" not in names
    assert not any("Set-Cookie" in value for value in headers.values())


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
def test_a_proper_nonce_is_challenged(framework: str) -> None:
    status, headers = FRAMEWORKS[framework](GOOD)
    lowered = {k.lower(): v for k, v in headers.items()}
    assert status == 401
    assert lowered["dpop-nonce"] == GOOD
    assert 'error="use_dpop_nonce"' in lowered["www-authenticate"]
