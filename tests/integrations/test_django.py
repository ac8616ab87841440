"""The Django middleware end to end through Django's test Client."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import django
import pytest
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.test import Client, override_settings
from django.urls import path

from keywell import JWK, Verifier
from keywell.integrations.django import require_scopes
from tests.integrations.conftest import bearer, make_token

if not settings.configured:
    settings.configure(
        DEBUG=False,
        ALLOWED_HOSTS=["testserver"],
        INSTALLED_APPS=[],
        DATABASES={},
        SECRET_KEY="test-only-not-secret",
        USE_TZ=True,
    )
    django.setup()


def me(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"sub": request.claims["sub"]})  # type: ignore[attr-defined]


@require_scopes("admin")
def admin(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


urlpatterns = [path("me", me), path("admin", admin), path("healthz", healthz)]


@pytest.fixture
def client(verifier: Verifier) -> Iterator[Client]:
    with override_settings(
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["keywell.integrations.django.BearerTokenMiddleware"],
        KEYWELL_VERIFIER=verifier,
        KEYWELL_EXEMPT_PATHS=["/healthz"],
    ):
        yield Client()


def _challenge(response: Any) -> str:
    return str(response["WWW-Authenticate"])


def test_django_valid_token(client: Client, signing_key: JWK) -> None:
    response = client.get("/me", headers=bearer(make_token(signing_key)))
    assert response.status_code == 200
    assert response.json() == {"sub": "alice"}
    assert client.get("/healthz").status_code == 200


def test_django_refusals(client: Client, signing_key: JWK) -> None:
    missing = client.get("/me")
    assert missing.status_code == 401
    assert _challenge(missing) == "Bearer"
    expired = client.get("/me", headers=bearer(make_token(signing_key, exp=int(time.time()) - 60)))
    assert expired.status_code == 401
    assert _challenge(expired).startswith('Bearer error="invalid_token"')
    malformed = client.get("/me", headers={"Authorization": "Bearer"})
    assert malformed.status_code == 400
    no_scope = client.get("/admin", headers=bearer(make_token(signing_key, scope="read")))
    assert no_scope.status_code == 403
    assert 'error="insufficient_scope"' in _challenge(no_scope)
    ok = client.get("/admin", headers=bearer(make_token(signing_key, scope="read admin")))
    assert ok.status_code == 200


def test_django_misconfigured(verifier: Verifier) -> None:
    from keywell.integrations.django import BearerTokenMiddleware

    with override_settings(KEYWELL_VERIFIER=None), pytest.raises(TypeError):
        BearerTokenMiddleware(lambda r: r)
