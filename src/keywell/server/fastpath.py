"""A raw ASGI layer in front of the framework for the public, cacheable documents.

``GET``/``HEAD`` of the JWK Sets and issuer metadata never reach the framework:
the path is matched by string operations, the answer is a precomputed
:class:`~keywell.server.published.Document`, and a matching ``If-None-Match``
(weak comparison, RFC 9110 section 13.1.2) gets a 304 with no body. Content
negotiation (RFC 7517 section 8.5.1 registers ``application/jwk-set+json``)
picks the media type; CORS (Fetch standard) lets browsers read the sets.
Everything else passes through to the wrapped application untouched.

Bounded staleness: when the registry's last successful version check started
more than ``max_staleness`` seconds ago, the request first awaits ``freshen``
(one check in flight for all requests; see
:meth:`keywell.server.scheduler.Scheduler.ensure_fresh`), so a document is
never served from an older snapshot, unless the store is unreachable.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, MutableMapping
from enum import IntEnum
from typing import Any

from keywell.lifecycle.rules import jwks_path
from keywell.server.problems import Problem, send_problem
from keywell.server.published import JWK_SET_JSON, Document, Entry, Registry

__all__ = ["ASGIApp", "DocKind", "FastPath", "match_public_path"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class DocKind(IntEnum):
    """Which public document a path names."""

    JWKS = 0  # the JWK Set (RFC 7517 section 5)
    METADATA = 1  # the root issuer metadata: the default set's (OpenID Connect Discovery; RFC 8414)
    SET_METADATA = 2  # a set's metadata, served only where it names its issuer


_JWKS, _META, _SET_META = DocKind.JWKS, DocKind.METADATA, DocKind.SET_METADATA
_DEFAULT_JWKS = jwks_path("", default=True)  # the rule lives in keywell.lifecycle.rules
_MEMO_LIMIT = 4096
_OIDC = "/.well-known/openid-configuration"
_OAUTH = "/.well-known/oauth-authorization-server"
_PREFIX = "/keysets/"
_PREFLIGHT = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"GET, HEAD"),
    (b"access-control-allow-headers", b"If-None-Match, Accept"),
    (b"access-control-max-age", b"86400"),
    (b"content-length", b"0"),
]


def match_public_path(path: str, default: str) -> tuple[str, DocKind] | None:
    """``(keyset name, document kind)`` for a public path, or ``None``.

    Served paths: ``/.well-known/jwks.json``, ``/.well-known/openid-configuration``,
    ``/.well-known/oauth-authorization-server`` (the default set);
    ``/keysets/{name}/jwks.json`` and ``/keysets/{name}`` followed by either
    well-known suffix; and ``/.well-known/oauth-authorization-server/keysets/{name}``,
    the RFC 8414 section 3.1 form for an issuer whose path is ``/keysets/{name}``.
    The kind is ``_JWKS``, ``_META`` (the root documents) or ``_SET_META`` (a
    per-set document, served only for a set whose issuer is
    ``{base_url}/keysets/{name}``: OpenID Connect Discovery 1.0 section 4.3
    and RFC 8414 section 3.3 make a client refuse any other).
    """
    if path.startswith("/.well-known/"):
        if path == _DEFAULT_JWKS:
            return default, _JWKS
        if path in (_OIDC, _OAUTH):
            return default, _META
        if path.startswith(_OAUTH + _PREFIX):
            name = path[len(_OAUTH) + len(_PREFIX) :]
            return (name, _SET_META) if name and "/" not in name else None
        return None
    if not path.startswith(_PREFIX):
        return None
    rest = path[len(_PREFIX) :]
    name, sep, tail = rest.partition("/")
    if not name or not sep:
        return None
    if tail == "jwks.json":
        return name, _JWKS
    if tail in (_OIDC[1:], _OAUTH[1:]):
        return name, _SET_META
    return None


def _etag_matches(header: bytes, etag: bytes) -> bool:
    """RFC 9110 section 13.1.2: ``*`` or any listed tag equal under weak comparison."""
    if header == etag:  # the common case: a client echoing the one tag it was given
        return True
    if header.strip() == b"*":
        return True
    for candidate in header.split(b","):
        tag = candidate.strip()
        if tag.startswith(b"W/"):
            tag = tag[2:]
        if tag == etag:
            return True
    return False


class FastPath:
    """Serve the public documents from ``registry``; hand everything else to ``app``.

    Args:
        app: the wrapped ASGI application (the admin API, health, metrics).
        registry: the current published documents.
        count: called with the status of every public request (metrics).
        freshen: brings the registry within ``max_staleness`` (or keeps the last
            snapshot if the store is unreachable).
        max_staleness: seconds; older snapshots are refreshed before serving.
    """

    def __init__(
        self,
        app: ASGIApp,
        registry: Registry,
        count: Callable[[int], None] | None = None,
        *,
        freshen: Callable[[], Awaitable[None]] | None = None,
        max_staleness: float = math.inf,
    ) -> None:
        self.app = app
        self.registry = registry
        self._freshen = freshen
        self._max_staleness = max_staleness
        self._count = count or (lambda status: None)
        self._memo: dict[str, tuple[str, DocKind] | None] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] == "http":
            path = scope["path"]
            memo = self._memo
            if path in memo:
                target = memo[path]
            else:
                target = match_public_path(path, self.registry.default_keyset)
                if len(memo) < _MEMO_LIMIT:  # bounded: arbitrary paths cannot grow it
                    memo[path] = target
            if target is not None:
                await self._serve(scope, send, target)
                return
        await self.app(scope, receive, send)

    async def _serve(self, scope: Scope, send: Send, target: tuple[str, DocKind]) -> None:
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            if method == "OPTIONS":
                await _respond(send, 204, _PREFLIGHT, b"")
                return
            problem = Problem(405, "KW_METHOD_NOT_ALLOWED", "only GET and HEAD are allowed here")
            await self._problem(send, problem, [(b"allow", b"GET, HEAD, OPTIONS")], method)
            return
        name, kind = target
        if self._freshen is not None and self.registry.age() > self._max_staleness:
            await self._freshen()
        entry: Entry | None = self.registry.entries.get(name)
        if entry is None:
            problem = Problem(404, "KW_KEYSET_NOT_FOUND", "no published key set has that name")
            await self._problem(send, problem, [], method)
            return
        if kind == _SET_META and not entry.issuer_here:
            problem = Problem(
                404,
                "KW_KEYSET_NOT_FOUND",
                "this key set's issuer is not this URL: fetch its discovery document under "
                "its issuer (its JWKS is at /keysets/{name}/jwks.json)",
            )
            await self._problem(send, problem, [], method)
            return
        inm: bytes | None = None
        typed = False
        for key, value in scope["headers"]:
            if key == b"if-none-match":
                inm = value
            elif key == b"accept" and kind == _JWKS and JWK_SET_JSON in value:
                typed = True
        doc: Document = entry.discovery
        if kind == _JWKS:
            doc = entry.jwks_typed if typed else entry.jwks
        if inm is not None and _etag_matches(inm, doc.etag):
            self._count(304)
            await send(
                {"type": "http.response.start", "status": 304, "headers": doc.not_modified_headers}
            )
            await send({"type": "http.response.body", "body": b""})
            return
        self._count(200)
        await send({"type": "http.response.start", "status": 200, "headers": doc.ok_headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else doc.body})

    async def _problem(
        self, send: Send, problem: Problem, headers: list[tuple[bytes, bytes]], method: str
    ) -> None:
        self._count(problem.status)
        await send_problem(
            send,
            problem,
            head=method == "HEAD",
            headers=[(b"access-control-allow-origin", b"*"), *headers],
        )


async def _respond(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
