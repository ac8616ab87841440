"""RFC 9457 problem details: the one error shape every keywell endpoint answers with.

A problem carries ``type`` (a ``urn:keywell:problem:*`` URI), ``title``, ``status``,
``detail`` and a stable ``code`` extension taken from :mod:`keywell.errors`.
Details are written by the server, never copied from a request, so no secret a
client sent is ever echoed back. :func:`send_problem` is the one raw-ASGI way
to answer with a problem; :func:`internal_error` the one way an unexpected
exception becomes one (a 500 naming a request id, logged with the error's type
and that id, never its message: a driver error's message carries the SQL and
the caller's parameters).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from http import HTTPStatus
from typing import Any

from keywell.errors import (
    ClaimError,
    CustodyError,
    InvalidInputError,
    KEKError,
    KeyNotFoundError,
    KeySetError,
    KeySetExistsError,
    KeySetNotFoundError,
    KeywellError,
    PolicyError,
)

__all__ = [
    "PROBLEM_JSON",
    "Problem",
    "internal_error",
    "problem_body",
    "problem_from_error",
    "problem_headers",
    "send_problem",
]

PROBLEM_JSON = "application/problem+json"
REQUEST_ID_KEY = "keywell.request_id"
"""Scope key set once an unexpected error of the request was logged and answered."""
log = logging.getLogger("keywell.server")


class Problem(Exception):
    """An HTTP error to answer with ``application/problem+json`` (RFC 9457 section 3).

    Args:
        status: the HTTP status code.
        code: a stable machine-readable code (``KW_*``).
        detail: a human explanation written by the server.
        headers: extra response headers (``WWW-Authenticate`` for 401/403).
        extra: extension members (RFC 9457 section 3.2).
    """

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra or {}

    def to_dict(self) -> dict[str, Any]:
        """The problem document (RFC 9457 section 3.1 members plus ``code``)."""
        doc: dict[str, Any] = {
            "type": f"urn:keywell:problem:{self.code.removeprefix('KW_').lower()}",
            "title": HTTPStatus(self.status).phrase,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        doc.update(self.extra)
        return doc


def problem_body(problem: Problem) -> bytes:
    """Serialise ``problem`` as compact UTF-8 JSON."""
    return json.dumps(problem.to_dict(), separators=(",", ":")).encode()


def problem_headers(problem: Problem, body: bytes) -> list[tuple[bytes, bytes]]:
    """The response headers of ``problem`` whose serialised form is ``body``."""
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    headers += [(k.lower().encode(), v.encode("latin-1")) for k, v in problem.headers.items()]
    return headers


async def send_problem(
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    problem: Problem,
    *,
    head: bool = False,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """Answer with ``problem`` as ``application/problem+json`` (no body for ``HEAD``)."""
    body = problem_body(problem)
    await send(
        {
            "type": "http.response.start",
            "status": problem.status,
            "headers": [*problem_headers(problem, body), *headers],
        }
    )
    await send({"type": "http.response.body", "body": b"" if head else body})


def internal_error(exc: BaseException, scope: MutableMapping[str, Any]) -> Problem:
    """Log ``exc`` by type under a fresh request id; the 500 problem that names the id.

    The log line carries the exception's type and the request id, never its
    message or traceback. The id is recorded in ``scope``, so an outer layer
    seeing the same exception re-raised knows it has been logged and answered.
    """
    request_id = secrets.token_hex(8)
    scope[REQUEST_ID_KEY] = request_id
    log.error(
        "unexpected error %s (request id %s)",
        type(exc).__name__,
        request_id,
        extra={"error_type": type(exc).__name__, "request_id": request_id},
    )
    return Problem(
        500,
        "KW_INTERNAL",
        f"internal error; quote request id {request_id}",
        headers={"X-Request-Id": request_id},
        extra={"request_id": request_id},
    )


def problem_from_error(exc: KeywellError) -> Problem:
    """Map a keywell error to its HTTP problem; the message is keywell's own, never a secret."""
    if isinstance(exc, KeySetNotFoundError):
        return Problem(404, exc.code, "no key set has that name")
    if isinstance(exc, KeyNotFoundError):
        return Problem(404, exc.code, "the key set has no key with that kid")
    if isinstance(exc, KeySetExistsError):
        return Problem(409, exc.code, "a key set with that name already exists")
    if isinstance(exc, InvalidInputError):
        return Problem(422, exc.code, exc.message, extra={"field": exc.field})
    if isinstance(exc, PolicyError):
        return Problem(422, exc.code, exc.message, extra={"setting": exc.setting})
    if isinstance(exc, ClaimError):
        return Problem(422, exc.code, exc.message, extra={"claim": exc.claim})
    if isinstance(exc, KEKError):
        return Problem(503, exc.code, "a key-encryption key needed for this operation is missing")
    if isinstance(exc, CustodyError):  # its message names the backend, never a credential
        return Problem(
            503, exc.code, exc.message, extra={"backend": exc.backend, "operation": exc.operation}
        )
    if isinstance(exc, KeySetError):
        return Problem(409, exc.code, exc.message)
    return Problem(422, exc.code, exc.message)
