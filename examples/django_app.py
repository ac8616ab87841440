"""A single-file Django API that accepts bearer tokens from a keywell key server.

Run it against `make run`'s server::

    python examples/django_app.py runserver 8000

In a real project the settings below go to ``settings.py`` and
``KEYWELL_VERIFIER`` names a module-level verifier by its dotted path. Settings
from the environment as in ``fastapi_app.py``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import django
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import path

from keywell import Verifier
from keywell.client import RemoteJWKSet
from keywell.integrations.django import require_scopes

ISSUER = os.environ.get("KEYWELL_ISSUER", "http://127.0.0.1:8080")
JWKS_URL = os.environ.get("KEYWELL_JWKS_URL", f"{ISSUER}/.well-known/jwks.json")
AUDIENCE = os.environ.get("KEYWELL_AUDIENCE", "my-api")

keys = RemoteJWKSet(JWKS_URL)  # fetched on first use, then cached and refreshed
verifier = Verifier(keys, issuer=ISSUER, audience=AUDIENCE)

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="example-only-not-secret",  # noqa: S106 - Django needs one; sessions unused
        ALLOWED_HOSTS=["127.0.0.1", "localhost", "testserver"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["keywell.integrations.django.BearerTokenMiddleware"],
        KEYWELL_VERIFIER=verifier,
        KEYWELL_EXEMPT_PATHS=["/healthz"],
    )
    django.setup()


def healthz(request: HttpRequest) -> JsonResponse:
    """Served without a token (exempt path)."""
    return JsonResponse({"status": "ok"})


def me(request: Any) -> JsonResponse:
    """Any valid token: the middleware set ``request.claims``."""
    return JsonResponse({"sub": request.claims["sub"]})


@require_scopes("orders:write")
def create_order(request: Any) -> JsonResponse:
    """Needs the ``orders:write`` scope (403 without it)."""
    return JsonResponse({"created_by": request.claims["sub"]})


urlpatterns = [path("healthz", healthz), path("me", me), path("orders", create_order)]

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
