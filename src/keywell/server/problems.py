"""RFC 9457 problem details: the one error shape every keywell endpoint answers with.

A problem carries ``type`` (a ``urn:keywell:problem:*`` URI), ``title``, ``status``,
``detail`` and a stable ``code`` extension taken from :mod:`keywell.errors`.
Details are written by the server, never copied from a request, so no secret a
client sent is ever echoed back.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from keywell.errors import (
    KEKError,
    KeyNotFoundError,
    KeySetError,
    KeySetExistsError,
    KeySetNotFoundError,
    KeywellError,
    PolicyError,
)

__all__ = ["PROBLEM_JSON", "Problem", "problem_body", "problem_from_error"]

PROBLEM_JSON = "application/problem+json"


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


def problem_from_error(exc: KeywellError) -> Problem:
    """Map a keywell error to its HTTP problem; the message is keywell's own, never a secret."""
    if isinstance(exc, KeySetNotFoundError):
        return Problem(404, exc.code, "no key set has that name")
    if isinstance(exc, KeyNotFoundError):
        return Problem(404, exc.code, "the key set has no key with that kid")
    if isinstance(exc, KeySetExistsError):
        return Problem(409, exc.code, "a key set with that name already exists")
    if isinstance(exc, PolicyError):
        return Problem(422, exc.code, exc.message, extra={"setting": exc.setting})
    if isinstance(exc, KEKError):
        return Problem(503, exc.code, "a key-encryption key needed for this operation is missing")
    if isinstance(exc, KeySetError):
        return Problem(409, exc.code, exc.message)
    return Problem(422, exc.code, exc.message)
