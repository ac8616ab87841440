"""Issue 10 Kind A through the integrations, and issue 12 item 11: one refusal body everywhere.

Every case of the member-type table (tests/jose/member_types.py) goes through
the ASGI middleware, the FastAPI dependency, Flask and Django: a refused
token is 401 ``invalid_token`` with the same RFC 6750 body and challenge,
never a 500; an accepted one reaches the view.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import django
import httpx
import pytest
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.test import Client, override_settings
from django.urls import path
from fastapi import Depends, FastAPI
from flask import Flask, g
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from keywell import InvalidKeyError, JWKSError, KeywellError, Verifier
from keywell.integrations.asgi import BearerAuthMiddleware, RequireToken, add_error_handler
from keywell.integrations.flask import KeywellFlask
from tests.jose.member_types import (
    AUD,
    CASE_IDS,
    CASES,
    ISS,
    KEYS,
    NOW,
    VALUES,
    expected,
    token_for,
)

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

VERIFIER = Verifier(KEYS, issuer=ISS, audience=AUD, clock=lambda: NOW)


def _django_me(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"sub": request.claims["sub"]})  # type: ignore[attr-defined]


urlpatterns = [path("me", _django_me)]


async def _starlette_me(request: Request) -> JSONResponse:
    return JSONResponse({"sub": request.state.claims["sub"]})


def _starlette() -> Starlette:
    app = Starlette(routes=[Route("/me", _starlette_me)])
    app.add_middleware(BearerAuthMiddleware, verifier=VERIFIER)
    return app


def _fastapi() -> FastAPI:
    app = FastAPI()
    dependency = RequireToken(VERIFIER)

    @app.get("/me")
    async def me(claims: Any = Depends(dependency)) -> dict[str, Any]:  # noqa: B008
        return {"sub": claims["sub"]}

    add_error_handler(app)
    return app


def _flask() -> Flask:
    app = Flask(__name__)
    auth = KeywellFlask(app, VERIFIER)

    @app.get("/me")
    @auth.require()
    def me() -> dict[str, Any]:
        return {"sub": g.claims["sub"]}

    return app


class Answer:
    """What one integration answered: status, JSON body, challenge."""

    def __init__(self, status: int, body: Any, challenge: str | None) -> None:
        self.status = status
        self.body = body
        self.challenge = challenge


@pytest.fixture(scope="module")
def apps() -> Iterator[dict[str, Any]]:
    flask_client = _flask().test_client()
    with override_settings(
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["keywell.integrations.django.BearerTokenMiddleware"],
        KEYWELL_VERIFIER=VERIFIER,
    ):
        django_client = Client()

        def asgi(app: Any) -> Any:
            async def get(auth: str | None) -> Answer:
                transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                    r = await client.get("/me", headers=_headers(auth))
                return Answer(r.status_code, r.json(), r.headers.get("www-authenticate"))

            return get

        def flask_get(auth: str | None) -> Answer:
            r = flask_client.get("/me", headers=_headers(auth))
            return Answer(r.status_code, r.get_json(), r.headers.get("WWW-Authenticate"))

        def django_get(auth: str | None) -> Answer:
            r = django_client.get("/me", headers=_headers(auth))
            return Answer(r.status_code, r.json(), r.headers.get("WWW-Authenticate"))

        yield {
            "asgi-middleware": asgi(_starlette()),
            "fastapi-dependency": asgi(_fastapi()),
            "flask": flask_get,
            "django": django_get,
        }


def _headers(auth: str | None) -> dict[str, str]:
    return {} if auth is None else {"Authorization": auth}


async def _answer(apps: dict[str, Any], name: str, auth: str | None) -> Answer:
    get = apps[name]
    if name.startswith(("asgi", "fastapi")):
        result: Answer = await get(auth)
        return result
    result = get(auth)
    return result


INTEGRATIONS = ["asgi-middleware", "fastapi-dependency", "flask", "django"]


@pytest.mark.anyio
@pytest.mark.parametrize("integration", INTEGRATIONS)
@pytest.mark.parametrize(("where", "member", "label"), CASES, ids=CASE_IDS)
async def test_member_type_table_through_integrations(
    apps: dict[str, Any], integration: str, where: str, member: str, label: str
) -> None:
    answer = await _answer(apps, integration, "Bearer " + token_for(where, member, label))
    if expected(where, member, label) is None:
        assert answer.status == 200
        sub = VALUES[label] if (where, member) == ("claim", "sub") else "alice"
        assert answer.body == {"sub": sub}
        return
    assert answer.status == 401
    assert set(answer.body) == {"error", "error_description"}
    assert answer.body["error"] == "invalid_token"
    assert answer.challenge is not None
    assert answer.challenge.startswith('Bearer error="invalid_token", error_description="')


@pytest.mark.anyio
@pytest.mark.parametrize(
    "header", [None, "Basic abc", "Bearer a b", "Bearer x.y.z", "Bearer " + "a" * 20_000]
)
async def test_every_integration_answers_one_body(apps: dict[str, Any], header: str | None) -> None:
    """Issue 12 item 11: the FastAPI dependency, middleware, Flask and Django agree exactly."""
    answers = [await _answer(apps, name, header) for name in INTEGRATIONS]
    first = answers[0]
    assert first.status in (400, 401)
    # RFC 6750 section 3.1: no error code when the request carried no bearer credentials
    no_credentials = header is None or header.startswith("Basic")
    expected = {"error_description"} if no_credentials else {"error", "error_description"}
    assert set(first.body) == expected
    assert first.challenge is not None
    for other in answers[1:]:
        assert (other.status, other.body, other.challenge) == (
            first.status,
            first.body,
            first.challenge,
        )


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class _FailingKeys:
    """A key source that fails with a given KeywellError (a fault no real set raises on demand)."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def candidates(self, kid: str | None, alg: str) -> tuple[Any, ...]:
        raise self.error


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (JWKSError("the set could not be used"), 503),
        (InvalidKeyError("the key is unusable"), 401),
        (KeywellError("anything else keywell raises"), 401),
    ],
)
def test_no_keywell_error_escapes_as_a_500(error: Exception, status: int) -> None:
    verifier = Verifier(_FailingKeys(error), issuer=ISS, audience=AUD, clock=lambda: NOW)
    app = Flask(__name__)
    auth = KeywellFlask(app, verifier)

    @app.get("/me")
    @auth.require()
    def me() -> dict[str, Any]:
        return {}

    token = token_for("claim", "sub", "x")
    response = app.test_client().get("/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == status
    assert set(response.get_json()) == {"error", "error_description"}
