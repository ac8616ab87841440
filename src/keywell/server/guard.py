"""The admin API's door: authentication and scope checks before the framework runs.

Every request under ``/admin/v1`` (except the schema) is authenticated here,
before its body is read or validated, so a caller without a valid token learns
nothing (not even whether its JSON parsed), and one without the route's scope
gets a 403 (RFC 6750 section 3.1). The required scope of each route is
declared with the route (:data:`ROUTE_SCOPES`). A body larger than the limit
is refused with 413 (411 for a chunked one) before it reaches the framework.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from starlette.routing import compile_path

from keywell.server.auth import Authenticator, Principal, authorize
from keywell.server.fastpath import ASGIApp, Receive, Scope, Send
from keywell.server.problems import PROBLEM_JSON, Problem, problem_body

if TYPE_CHECKING:
    from keywell.server.minting import FastMint

__all__ = [
    "ADMIN_PREFIX",
    "OPENAPI_PATH",
    "ROUTE_SCOPES",
    "AdminGuard",
    "route_scope",
    "send_problem",
]

ADMIN_PREFIX = "/admin/v1"
OPENAPI_PATH = ADMIN_PREFIX + "/openapi.json"
_MINT = re.compile(r"^/admin/v1/keysets/([^/]+)/tokens$")
ROUTE_SCOPES: dict[tuple[str, str], str] = {}
"""``(method, route path template) -> scope``, filled as admin routes are declared."""


class AdminGuard:
    """Authenticate and authorise admin requests, then hand them to ``app``.

    Args:
        app: the framework application.
        authenticator: resolves bearer secrets.
        max_body: the largest request body accepted, in bytes.
        mint: serves token minting without the framework (see ``minting``).
    """

    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator,
        *,
        max_body: int,
        mint: FastMint | None = None,
    ) -> None:
        self.app = app
        self.mint = mint
        self._routes = [
            ((method, compile_path(template)[0]), needed)
            for (method, template), needed in ROUTE_SCOPES.items()
        ]
        self.auth = authenticator
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        path = scope.get("path", "")
        if scope["type"] != "http" or not (
            path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")
        ):
            await self.app(scope, receive, send)
            return
        if path == OPENAPI_PATH and scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        # Minting is the one admin call made at request rates: match it once, up front.
        minting = _MINT.match(path) if self.mint is not None and scope["method"] == "POST" else None
        try:
            principal = await self._authenticate(scope)
            try:
                authorize(principal, "sign" if minting is not None else self._required_scope(scope))
            except Problem:
                self.auth.on_failure("scope")
                raise
            self._check_length(scope)
        except Problem as problem:
            await send_problem(send, problem)
            return
        scope.setdefault("state", {})["principal"] = principal
        if minting is not None and self.mint is not None:
            await self.mint(scope, receive, send, minting.group(1))
            return
        await self.app(scope, receive, send)

    async def _authenticate(self, scope: Scope) -> Principal:
        authorization: str | None = None
        for key, value in scope["headers"]:
            if key == b"authorization":
                authorization = value.decode("latin-1")
                break
        secret = self.auth.secret_from_header(authorization)
        principal = self.auth.cached(secret)
        if principal is None:
            principal = await anyio.to_thread.run_sync(self.auth.lookup, secret)
        if principal is None:
            raise self.auth.reject_unknown()
        return principal

    def _required_scope(self, scope: Scope) -> str:
        """The scope of the declared route this request matches; ``admin`` for anything else.

        Deny by default: a path or method no route declared (the framework will
        answer 404 or 405) is only disclosed to an ``admin`` token.
        """
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        path = scope["path"]
        for (route_method, regex), needed in self._routes:
            if route_method == method and regex.match(path):
                return needed
        return "admin"

    def _check_length(self, scope: Scope) -> None:
        chunked = False
        for key, value in scope["headers"]:
            if key == b"transfer-encoding":
                chunked = True
            elif key == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    raise Problem(400, "KW_BAD_REQUEST", "invalid Content-Length") from None
                if length > self.max_body:
                    raise Problem(413, "KW_BODY_TOO_LARGE", "the request body is too large")
                return
        if chunked:
            raise Problem(411, "KW_LENGTH_REQUIRED", "send the body with a Content-Length")


async def send_problem(send: Send, problem: Problem, *, head: bool = False) -> None:
    """Answer with ``problem`` as ``application/problem+json``."""
    body = problem_body(problem)
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    headers += [(k.lower().encode(), v.encode("latin-1")) for k, v in problem.headers.items()]
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


def route_scope(method: str, path: str, scope: str) -> dict[str, Any]:
    """Record the scope of an admin route; returns OpenAPI extras documenting it."""
    ROUTE_SCOPES[(method, path)] = scope
    return {"x-required-scope": scope}
