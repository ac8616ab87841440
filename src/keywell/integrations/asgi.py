"""ASGI middleware and a FastAPI/Starlette dependency for bearer tokens (RFC 6750) and DPoP.

A verifier built with ``dpop=DPoPPolicy(...)`` checks whole requests:
``Authorization: DPoP`` with a ``DPoP`` proof for the request's method and
URI (RFC 9449; :mod:`keywell.integrations._dpop` lists the answers). The URI
is the Host header's, or ``public_url`` plus the raw path behind a proxy.

:class:`BearerAuthMiddleware` guards a whole ASGI app: verified claims go to
``scope["state"]["claims"]`` (``request.state.claims`` in Starlette and
FastAPI) and ``scope["keywell.claims"]``. :class:`RequireToken` is a
dependency for single routes, reusing the middleware's claims when present.
Both verify with ``averify``, so a key fetch never blocks the event loop.

Every refusal answers one body, built by
:meth:`~keywell.integrations._common.AuthFailure.body`: the RFC 6750 section
3.1 ``{"error", "error_description"}`` with its ``WWW-Authenticate``
challenge (400/401/403), or 503 when keys are unavailable. The dependency
raises :class:`BearerAuthError` (an ``HTTPException``); register
:func:`bearer_error_handler` on the app (``add_error_handler(app)``, the
second line of the documented setup) so FastAPI answers that body too
instead of its own ``{"detail": ...}``. FastAPI offers no way around that
line: it renders every ``HTTPException`` raised in a dependency through the
app's handler table, and a dependency cannot answer a response itself. A
dependency that refuses on an app without the handler logs a warning once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request  # resolved at runtime by FastAPI's dependency injection
from starlette.responses import JSONResponse, Response

from keywell.integrations._common import (
    AuthFailure,
    TokenVerifier,
    aauthenticate,
    check_scopes,
    is_exempt,
    normalize_scopes,
)
from keywell.integrations._dpop import aauthenticate_request, asgi_request_uri

__all__ = [
    "BearerAuthError",
    "BearerAuthMiddleware",
    "RequireToken",
    "add_error_handler",
    "bearer_error_handler",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CLAIMS_KEY = "keywell.claims"
logger = logging.getLogger("keywell.integrations")


def _header(scope: Scope, name: bytes) -> str | None:
    values = [v for k, v in scope.get("headers", ()) if k.lower() == name]
    if len(values) != 1:
        return None if not values else "invalid multiple"
    try:
        return bytes(values[0]).decode("latin-1")
    except (TypeError, ValueError):
        return None


async def _authenticate(
    verifier: TokenVerifier, scope: Scope, scopes: tuple[str, ...], public_url: str | None
) -> Mapping[str, Any]:
    """Bearer verification, or whole-request DPoP verification when the verifier has a policy."""
    authorization = _header(scope, b"authorization")
    if getattr(verifier, "dpop", None) is None:
        return await aauthenticate(verifier, authorization, scopes)
    method = "GET" if scope["type"] == "websocket" else str(scope.get("method", "GET"))
    dpop = _header(scope, b"dpop")
    return await aauthenticate_request(
        verifier,  # type: ignore[arg-type]  # has dpop: a keywell Verifier
        method,
        asgi_request_uri(scope, public_url),
        authorization,
        dpop,
        scopes,
    )


class BearerAuthMiddleware:
    """Refuse HTTP and WebSocket requests without a valid bearer token.

    Args:
        app: the ASGI app to guard.
        verifier: a :class:`keywell.Verifier` or ``MultiIssuerVerifier``.
        scopes: scopes every request needs.
        exempt_paths: path prefixes served without a token (health checks).
        realm: an optional ``realm`` for the challenge.
        public_url: the scheme, host and path prefix clients use, when a proxy
            stands in front (DPoP proofs name that URI, RFC 9449 ``htu``).
    """

    def __init__(
        self,
        app: ASGIApp,
        verifier: TokenVerifier,
        *,
        scopes: str | Iterable[str] = (),
        exempt_paths: Iterable[str] = (),
        realm: str | None = None,
        public_url: str | None = None,
    ) -> None:
        """Check the configuration."""
        if not callable(getattr(verifier, "averify", None)):
            raise TypeError("verifier must have averify() (keywell.Verifier)")
        self.app = app
        self._verifier = verifier
        self._scopes = normalize_scopes(scopes)
        self._exempt = tuple(exempt_paths)
        self._realm = realm
        self._public_url = public_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Verify, then hand over to the app; or answer 400/401/403/503."""
        kind = scope["type"]
        if kind not in ("http", "websocket") or is_exempt(str(scope.get("path", "")), self._exempt):
            await self.app(scope, receive, send)
            return
        try:
            claims = await _authenticate(self._verifier, scope, self._scopes, self._public_url)
        except AuthFailure as failure:
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await _respond(send, failure, self._realm)
            return
        scope.setdefault("state", {})["claims"] = claims
        scope[CLAIMS_KEY] = claims
        await self.app(scope, receive, send)


async def _respond(send: Send, failure: AuthFailure, realm: str | None) -> None:
    body = json.dumps(failure.body()).encode()
    headers = [(k.lower().encode(), v.encode()) for k, v in failure.headers(realm).items()]
    headers += [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": failure.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BearerAuthError(HTTPException):
    """A refusal raised by :class:`RequireToken`: ``failure`` holds status, challenge and body.

    Without :func:`bearer_error_handler` FastAPI still answers the right status
    and ``WWW-Authenticate`` challenge, with its own ``{"detail": ...}`` body.
    """

    def __init__(self, failure: AuthFailure, realm: str | None) -> None:
        super().__init__(failure.status, detail=failure.description, headers=failure.headers(realm))
        self.failure = failure


async def bearer_error_handler(request: Request, exc: Exception) -> Response:
    """Answer a :class:`BearerAuthError` with the RFC 6750 JSON body the middleware answers."""
    if not isinstance(exc, BearerAuthError):
        raise TypeError("bearer_error_handler handles BearerAuthError only")
    return JSONResponse(exc.failure.body(), status_code=exc.status_code, headers=exc.headers)


def add_error_handler(app: Any) -> None:
    """Register :func:`bearer_error_handler` for :class:`BearerAuthError` on a FastAPI app.

    Call it before the app starts serving (Starlette builds its handler table then).
    """
    app.add_exception_handler(BearerAuthError, bearer_error_handler)


class RequireToken:
    """A FastAPI/Starlette dependency returning verified claims or raising :class:`BearerAuthError`.

    ``Depends(RequireToken(verifier, scopes="read"))``; a verifier with a DPoP
    policy checks ``DPoP`` requests too (``public_url`` as for the middleware). Behind
    :class:`BearerAuthMiddleware` it reuses the claims and checks only scopes.
    Call :func:`add_error_handler` on the app so refusals carry the RFC 6750
    body (``{"error": "invalid_token", "error_description": ...}``).
    """

    def __init__(
        self,
        verifier: TokenVerifier | None = None,
        *,
        scopes: str | Iterable[str] = (),
        realm: str | None = None,
        public_url: str | None = None,
    ) -> None:
        """Check the configuration (``verifier`` may be None behind the middleware)."""
        if verifier is not None and not callable(getattr(verifier, "averify", None)):
            raise TypeError("verifier must have averify() (keywell.Verifier)")
        self._verifier = verifier
        self._scopes = normalize_scopes(scopes)
        self._realm = realm
        self._public_url = public_url
        self._checked_handler = False

    async def __call__(self, request: Request) -> Mapping[str, Any]:
        """Verify the request's bearer token (FastAPI injects ``request``)."""
        try:
            claims: Mapping[str, Any] | None = request.scope.get(CLAIMS_KEY)
            if claims is not None:
                check_scopes(claims, self._scopes)
            elif self._verifier is None:
                raise AuthFailure(401, None, "Authentication required")
            else:
                claims = await _authenticate(
                    self._verifier, request.scope, self._scopes, self._public_url
                )
                request.state.claims = claims
        except AuthFailure as failure:
            self._check_handler(request)
            raise BearerAuthError(failure, self._realm) from None
        return claims

    def _check_handler(self, request: Request) -> None:
        """Warn once if the app will answer ``{"detail": ...}`` (no :func:`add_error_handler`)."""
        if self._checked_handler:
            return
        self._checked_handler = True
        handlers = getattr(request.scope.get("app"), "exception_handlers", None)
        if isinstance(handlers, Mapping) and BearerAuthError not in handlers:
            logger.warning(
                "RequireToken refused a request on an app without keywell's error handler: "
                'it answers {"detail": ...} instead of the RFC 6750 body; call '
                "keywell.integrations.asgi.add_error_handler(app) at start-up"
            )
