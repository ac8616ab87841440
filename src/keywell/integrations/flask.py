"""A Flask extension and decorator for bearer and DPoP-bound tokens (RFC 6750, RFC 9449).

``auth = KeywellFlask(app, verifier)`` then ``@auth.require("read")`` on a
view; the claims are in ``flask.g.claims``. Refusals answer 400/401/403/503
with the RFC 6750 challenge and a JSON body. A verifier built with a DPoP
policy checks whole requests (:mod:`keywell.integrations._dpop`); behind a
proxy pass ``public_url`` (or use werkzeug's ``ProxyFix``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

from keywell.integrations._common import (
    AuthFailure,
    TokenVerifier,
    authenticate,
    normalize_scopes,
)
from keywell.integrations._dpop import authenticate_request, has_dpop, quote_path, request_uri

__all__ = ["KeywellFlask"]

F = TypeVar("F", bound=Callable[..., Any])


class KeywellFlask:
    """Bearer-token verification for a Flask app (application-factory friendly)."""

    def __init__(
        self,
        app: Any = None,
        verifier: TokenVerifier | None = None,
        *,
        realm: str | None = None,
        public_url: str | None = None,
    ) -> None:
        """Optionally bind to ``app`` now; see :meth:`init_app`."""
        self._verifier = verifier
        self._realm = realm
        self._public_url = public_url
        if app is not None:
            self.init_app(app, verifier)

    def init_app(self, app: Any, verifier: TokenVerifier | None = None) -> None:
        """Register on ``app`` (``app.extensions["keywell"]``)."""
        if verifier is not None:
            self._verifier = verifier
        if self._verifier is None or not callable(getattr(self._verifier, "verify", None)):
            raise TypeError("a verifier with verify() (keywell.Verifier) is required")
        app.extensions["keywell"] = self

    def require(self, scopes: str | Iterable[str] = ()) -> Callable[[F], F]:
        """Decorate a view so it runs only with a valid token holding ``scopes``."""
        needed = normalize_scopes(scopes)

        def decorate(view: F) -> F:
            @functools.wraps(view)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                from flask import g, jsonify, request

                verifier = self._verifier
                if verifier is None:
                    raise RuntimeError("KeywellFlask has no verifier; call init_app")
                authorization = request.headers.get("Authorization")
                try:
                    if has_dpop(verifier):
                        path = quote_path(request.script_root + request.path)
                        uri = request_uri(self._public_url, request.host_url, path)
                        g.claims = authenticate_request(
                            verifier,  # type: ignore[arg-type]  # a Verifier with dpop
                            request.method,
                            uri,
                            authorization,
                            request.headers.get("DPoP"),
                            needed,
                        )
                    else:
                        g.claims = authenticate(verifier, authorization, needed)
                except AuthFailure as failure:
                    response = jsonify(failure.body())
                    response.status_code = failure.status
                    response.headers.update(failure.headers(self._realm))
                    return response
                return view(*args, **kwargs)

            return cast(F, wrapper)

        return decorate
