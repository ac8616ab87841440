"""The console's HTTP plumbing: security headers, HTML responses, forms, packaged static files.

Every console response carries :data:`CSP` (the packaged stylesheet and script
only: no inline script or style, no other origin), ``nosniff``, anti-framing
headers and ``Cache-Control: no-store``. Forms are
``application/x-www-form-urlencoded`` (WHATWG URL standard section 5), at most
32 fields; the body size is bounded before this, for every route, by
:class:`~keywell.server.guard.AdminGuard`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from importlib import resources
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from keywell.server.fastpath import ASGIApp, Message, Receive, Scope, Send
from keywell.server.problems import PROBLEM_JSON, Problem

__all__ = ["CSP", "Form", "ProblemPages", "StaticFiles", "parse_form", "redirect", "response"]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_STATIC = {"console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8"}
_FORM = "application/x-www-form-urlencoded"
Form = dict[str, str]


def load_static() -> dict[str, tuple[bytes, str]]:
    """``{name: (bytes, strong ETag)}`` of the packaged static files."""
    folder = resources.files("keywell.server.console") / "static"
    out = {}
    for name in _STATIC:
        body = (folder / name).read_bytes()
        out[name] = (body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    return out


def response(
    body: bytes, status: int = 200, *, media: str = "text/html; charset=utf-8"
) -> Response:
    """A console response with the security headers and ``no-store``."""
    answer = Response(body, status_code=status, media_type=media)
    answer.headers.update(_HEADERS)
    answer.headers["Cache-Control"] = "no-store"
    return answer


def redirect(location: str) -> Response:
    """A 303 to ``location`` (POST, then GET: RFC 9110 section 15.4.4)."""
    answer = response(b"", 303)
    answer.headers["Location"] = location
    return answer


def parse_form(body: bytes, content_type: str) -> Form:
    """The fields of a urlencoded form (the first value of each); an empty body is no field.

    Raises:
        Problem: 415, another media type; 400, not UTF-8 or too many fields.
    """
    if not body:
        return {}
    if content_type.split(";")[0].strip().lower() != _FORM:
        raise Problem(
            415, "KW_UNSUPPORTED_MEDIA_TYPE", "a console form is application/x-www-form-urlencoded"
        )
    try:
        pairs = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=32)
    except (UnicodeDecodeError, ValueError):
        raise Problem(400, "KW_INVALID_REQUEST", "the form is not valid") from None
    return {k: v[0] for k, v in pairs.items()}


class StaticFiles:
    """The packaged ``static/`` files, read once, served with an ``ETag``."""

    def __init__(self) -> None:
        self._files = load_static()

    async def serve(self, request: Request) -> Response:
        """Serve ``/static/{file}`` (404 for any name not packaged)."""
        name = request.path_params["file"]
        found = self._files.get(name)
        if found is None:
            return response(b"", 404, media="text/plain")
        body, etag = found
        if request.headers.get("if-none-match") == etag:
            answer = response(b"", 304)
        else:
            answer = response(body, media=_STATIC[name])
        answer.headers["Cache-Control"] = "no-cache"
        answer.headers["ETag"] = etag
        return answer


class ProblemPages:
    """Refusals made before the console runs, shown as console pages (ASGI, around ``app``).

    The body limit (413), the body deadline (408), the failure throttle (429)
    and the framework (405) answer ``application/problem+json``; under
    ``prefix`` a person's browser gets ``render(problem)`` instead: the same
    status, code, detail and ``Retry-After``, with the console's headers.
    Other paths pass untouched.

    Args:
        app: the application behind the public fast path.
        render: the console's error page for a problem.
        prefix: the console's path prefix.
    """

    def __init__(self, app: ASGIApp, render: Callable[[Problem], Response], *, prefix: str) -> None:
        self.app = app
        self.render = render
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == self.prefix or path.startswith(self.prefix + "/")):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        body = b""

        async def pages(message: Message) -> None:
            nonlocal start, body
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", []))
                if headers.get(b"content-type") == PROBLEM_JSON.encode():
                    start = message
                    return
            elif start is not None and message["type"] == "http.response.body":
                body += message.get("body", b"")
                if not message.get("more_body", False):
                    await self._page(start, body, scope, receive, send)
                return
            await send(message)

        await self.app(scope, receive, pages)

    async def _page(
        self, start: Message, body: bytes, scope: Scope, receive: Receive, send: Send
    ) -> None:
        try:
            doc = json.loads(body) if body else {}
        except ValueError:
            doc = {}
        if not isinstance(doc, dict):
            doc = {}
        status = int(start["status"])
        keep = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in start.get("headers", [])
            if k == b"retry-after"
        }
        problem = Problem(
            status, str(doc.get("code", "KW_ERROR")), str(doc.get("detail", "")), headers=keep
        )
        answer = self.render(problem)
        answer.headers.update(problem.headers)
        await answer(scope, receive, send)
