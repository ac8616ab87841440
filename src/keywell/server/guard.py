"""The door of everything but the public fast path: body limit, authentication, scopes.

Every request under ``/admin/v1`` (except the schema) is authenticated here,
before its body is read or validated, so a caller without a valid token learns
nothing (not even whether its JSON parsed), and one without the route's scope
gets a 403 (RFC 6750 section 3.1). The required scope of each route is
declared with the route (:data:`ROUTE_SCOPES`).

Request bodies are bounded here, in one place, for every route behind the
fast path: :class:`BodyLimit` counts the bytes actually received, whatever the
framing (HTTP/1.1 ``Content-Length`` or chunked, HTTP/2 DATA frames with or
without ``content-length``), and the body is read through it before the
framework or the mint path runs; more than ``max_body`` bytes is a 413
(a declared ``Content-Length`` over the limit is refused before reading). A
non-empty admin body must be ``application/json`` (RFC 8259 section 11),
else 415, and well-formed JSON by one strict parser, else 422. Any exception
that escapes is answered with a problem+json 500 and logged by type with a
request id (:func:`~keywell.server.problems.internal_error`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

from starlette.routing import compile_path

from keywell.errors import MalformedTokenError
from keywell.jose._json import loads_object
from keywell.lifecycle.names import is_keyset_name
from keywell.server.auth import Authenticator, Principal, authorize
from keywell.server.fastpath import ASGIApp, Message, Receive, Scope, Send
from keywell.server.problems import REQUEST_ID_KEY, Problem, internal_error, send_problem

if TYPE_CHECKING:
    from keywell.server.minting import FastMint

__all__ = [
    "ADMIN_PREFIX",
    "OPENAPI_PATH",
    "ROUTE_SCOPES",
    "AdminGuard",
    "BodyLimit",
    "read_body",
    "route_scope",
    "send_problem",  # defined in keywell.server.problems; re-exported for existing importers
]

ADMIN_PREFIX = "/admin/v1"
OPENAPI_PATH = ADMIN_PREFIX + "/openapi.json"
_MINT = re.compile(r"^/admin/v1/keysets/([^/]+)/tokens$")
_WITH_BODY: Final = frozenset({"POST", "PUT", "PATCH"})
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
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self._dispatch(scope, receive, tracked)
        except Problem as problem:  # refused before anything was answered
            if not started:
                await send_problem(tracked, problem)
        except Exception as exc:
            if REQUEST_ID_KEY in scope:
                return  # the framework's handler logged it and answered (then re-raised)
            internal = internal_error(exc, scope)
            if not started:
                await send_problem(tracked, internal)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        admin = path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")
        if admin and scope["method"] == "HEAD":
            # RFC 9110 section 9.3.2: HEAD is GET without the content. The
            # framework declares GET only, so it is served as GET, same scope.
            scope, send = {**scope, "method": "GET"}, _without_content(send)
        if admin and not (path == OPENAPI_PATH and scope["method"] in ("GET", "HEAD")):
            # Minting is the one admin call made at request rates: match it once, up front.
            minting = _MINT.match(path) if self.mint is not None else None
            if minting is not None and scope["method"] != "POST":
                minting = None
            principal = await self._authenticate(scope)
            try:
                authorize(principal, "sign" if minting is not None else self._required_scope(scope))
            except Problem:
                self.auth.on_failure("scope")
                raise
            scope.setdefault("state", {})["principal"] = principal
            body = await read_body(scope, receive, self.max_body)
            if body and scope["method"] in _WITH_BODY:
                _require_json(scope)
                _require_wellformed(body)
            if minting is not None and self.mint is not None:
                name = minting.group(1)
                if not is_keyset_name(name):
                    raise Problem(404, "KW_KEYSET_NOT_FOUND", "no key set has that name")
                await self.mint(body, send, name, scope)
                return
        else:
            body = await read_body(scope, receive, self.max_body)
        await self.app(scope, _replay(body, receive), send)

    async def _authenticate(self, scope: Scope) -> Principal:
        """The caller of ``scope``: its ``Authorization`` header through the one authenticator."""
        authorization: str | None = None
        for key, value in scope["headers"]:
            if key == b"authorization":
                authorization = value.decode("latin-1")
                break
        return await self.auth.authenticate(authorization)

    def _required_scope(self, scope: Scope) -> str:
        """The scope of the declared route this request matches; ``admin`` for anything else.

        Deny by default: a path or method no route declared (the framework will
        answer 404 or 405) is only disclosed to an ``admin`` token.
        """
        method = scope["method"]  # a HEAD arrives here as GET (see _dispatch)
        path = scope["path"]
        for (route_method, regex), needed in self._routes:
            if route_method == method and regex.match(path):
                return needed
        return "admin"


class BodyLimit:
    """A ``receive`` that counts the body bytes received and refuses past ``limit``.

    Raises:
        Problem: 413 ``KW_BODY_TOO_LARGE`` once more than ``limit`` bytes arrived.
    """

    def __init__(self, receive: Receive, limit: int) -> None:
        self._receive = receive
        self.limit = limit
        self.received = 0

    async def __call__(self) -> Message:
        """The next message, counted."""
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                raise _too_large()
        return message


def _too_large() -> Problem:
    return Problem(413, "KW_BODY_TOO_LARGE", "the request body is too large")


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole request body, at most ``limit`` bytes (RFC 9110 section 15.5.14: 413).

    A declared ``Content-Length`` over the limit is refused before any byte is
    read; an invalid one is a 400. Whatever the headers say, the bytes
    received are counted (:class:`BodyLimit`). A client that disconnects gets
    an empty body (the answer goes nowhere).
    """
    for key, value in scope["headers"]:
        if key == b"content-length":
            if not value.isdigit():
                raise Problem(400, "KW_BAD_REQUEST", "invalid Content-Length")
            if int(value) > limit:
                raise _too_large()
    bounded = BodyLimit(receive, limit)
    chunks: list[bytes] = []
    while True:
        message = await bounded()
        if message["type"] != "http.request":
            return b""
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _without_content(send: Send) -> Send:
    """``send`` with every body chunk emptied: the headers (Content-Length too) stay."""

    async def head(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return head


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` once, then waits on ``receive`` (disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _require_wellformed(body: bytes) -> None:
    """Refuse (422) a body that is not strict JSON: one parser for every admin route.

    RFC 8259 strictly, with the parser that reads token headers and payloads
    (:func:`keywell.jose._json.loads_object`): a JSON object, UTF-8 without a
    BOM, no NaN or Infinity, no lone surrogate escape, bounded nesting, and no
    duplicate member names (RFC 8259 section 4 leaves them to the parser; a
    proxy reading the first ``"scopes"`` and keywell the last would disagree
    about what was asked). So the framework's lenient parser never sees what
    keywell would refuse.
    """
    try:
        loads_object(body, "the request body")
    except MalformedTokenError:
        raise Problem(
            422,
            "KW_INVALID_REQUEST",
            "the request is invalid",
            extra={"errors": [{"loc": ["body"], "type": "json_invalid"}]},
        ) from None


def _require_json(scope: Scope) -> None:
    """RFC 9110 section 15.5.16: a body that is not ``application/json`` is a 415."""
    for key, value in scope["headers"]:
        if key == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            if media == b"application/json":
                return
            break
    raise Problem(
        415,
        "KW_UNSUPPORTED_MEDIA_TYPE",
        "send the body as application/json",
        headers={"Accept-Post": "application/json"},
    )


def route_scope(method: str, path: str, scope: str) -> dict[str, Any]:
    """Record the scope of an admin route; returns OpenAPI extras documenting it."""
    ROUTE_SCOPES[(method, path)] = scope
    return {"x-required-scope": scope}
