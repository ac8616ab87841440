"""A Django middleware and view decorator for bearer tokens (RFC 6750).

Settings:

- ``KEYWELL_VERIFIER``: a :class:`keywell.Verifier` (or ``MultiIssuerVerifier``),
  or the dotted path of one;
- ``KEYWELL_REQUIRED_SCOPES``: scopes every request needs (default none);
- ``KEYWELL_EXEMPT_PATHS``: path prefixes served without a token;
- ``KEYWELL_PUBLIC_URL``: the scheme, host and path prefix clients use behind
  a proxy (DPoP proofs name that URI, RFC 9449 ``htu``); without it the URI is
  ``request.build_absolute_uri`` (mind ``USE_X_FORWARDED_HOST``).

A verifier built with a DPoP policy checks whole requests: ``Authorization:
DPoP`` with a ``DPoP`` proof (:mod:`keywell.integrations._dpop`).

The claims are set on ``request.claims``; :func:`require_scopes` adds
per-view scope checks. Refusals answer 400/401/403/503 with the RFC 6750
challenge and a JSON body.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from keywell.integrations._common import (
    AuthFailure,
    TokenVerifier,
    authenticate,
    check_scopes,
    is_exempt,
    normalize_scopes,
)
from keywell.integrations._dpop import authenticate_request, has_dpop, quote_path, request_uri

__all__ = ["BearerTokenMiddleware", "require_scopes"]

F = TypeVar("F", bound=Callable[..., Any])


def _response(failure: AuthFailure) -> Any:
    from django.http import JsonResponse  # type: ignore[import-untyped]

    response = JsonResponse(failure.body(), status=failure.status)
    for name, value in failure.headers().items():
        response[name] = value
    return response


class BearerTokenMiddleware:
    """Verify the bearer token of every request not under an exempt path."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        """Read the settings once."""
        from django.conf import settings  # type: ignore[import-untyped]
        from django.utils.module_loading import import_string  # type: ignore[import-untyped]

        verifier = getattr(settings, "KEYWELL_VERIFIER", None)
        if isinstance(verifier, str):
            verifier = import_string(verifier)
        if not callable(getattr(verifier, "verify", None)):
            raise TypeError("settings.KEYWELL_VERIFIER must be a keywell Verifier")
        self._verifier = cast(TokenVerifier, verifier)
        self._scopes = normalize_scopes(getattr(settings, "KEYWELL_REQUIRED_SCOPES", ()))
        self._exempt = tuple(getattr(settings, "KEYWELL_EXEMPT_PATHS", ()))
        self._public_url: str | None = getattr(settings, "KEYWELL_PUBLIC_URL", None)
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        """Verify, then call the view; or answer with the failure."""
        if is_exempt(request.path, self._exempt):
            return self.get_response(request)
        authorization = request.headers.get("Authorization")
        try:
            if has_dpop(self._verifier):
                base = request.build_absolute_uri("/")
                uri = request_uri(self._public_url, base, quote_path(request.path))
                request.claims = authenticate_request(
                    self._verifier,  # type: ignore[arg-type]  # a Verifier with dpop
                    request.method,
                    uri,
                    authorization,
                    request.headers.get("DPoP"),
                    self._scopes,
                )
            else:
                request.claims = authenticate(self._verifier, authorization, self._scopes)
        except AuthFailure as failure:
            return _response(failure)
        return self.get_response(request)


def require_scopes(*scopes: str) -> Callable[[F], F]:
    """Decorate a view to require scopes on the middleware's verified claims."""
    needed = normalize_scopes(scopes)

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(request: Any, *args: Any, **kwargs: Any) -> Any:
            claims = getattr(request, "claims", None)
            try:
                if claims is None:
                    raise AuthFailure(401, None, "Authentication required")
                check_scopes(claims, needed)
            except AuthFailure as failure:
                return _response(failure)
            return view(request, *args, **kwargs)

        return cast(F, wrapper)

    return decorate
