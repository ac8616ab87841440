"""What every framework integration shares: bearer parsing, scope checks and RFC 6750 challenges.

- The token comes from ``Authorization: Bearer <token>`` only (RFC 6750
  section 2.1); a request without one gets a bare ``Bearer`` challenge with
  no error code (section 3.1), a malformed header ``invalid_request`` (400).
- A refused token gets 401 ``error="invalid_token"``; a token without a
  required scope 403 ``error="insufficient_scope"`` naming the scope
  (section 3.1). Scopes come from ``scope`` (space-separated, RFC 8693
  section 4.2) or ``scp`` (a list or a string).
- A key set that cannot be fetched or used (any ``JWKSError``) is the
  server's problem: 503, no challenge. Any other :class:`KeywellError` raised
  while verifying is a refused token (401); none escapes as a 500.
- Every integration answers the body of :meth:`AuthFailure.body`, the one
  place it is built (RFC 6750 section 3.1 members ``error`` and
  ``error_description``; no ``error`` when no credentials were sent).
- Descriptions are fixed phrases per error class, never the error text, so a
  response reveals nothing about keys, URLs or the token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Mapping
from typing import Any, Protocol

from keywell.errors import (
    AlgorithmError,
    ClaimError,
    ExpiredTokenError,
    InvalidSignatureError,
    JWKSError,
    KeywellError,
    MalformedTokenError,
    NoMatchingKeyError,
    NotYetValidError,
)

__all__ = [
    "AuthFailure",
    "TokenVerifier",
    "aauthenticate",
    "authenticate",
    "bearer_token",
    "check_scopes",
    "is_exempt",
    "normalize_scopes",
    "refused",
    "token_scopes",
]


class TokenVerifier(Protocol):
    """A :class:`keywell.Verifier` or :class:`keywell.client.MultiIssuerVerifier`."""

    def verify(self, token: str | bytes) -> Mapping[str, Any]:
        """Return claims or raise."""

    def averify(self, token: str | bytes) -> Awaitable[Mapping[str, Any]]:
        """Return claims or raise, asynchronously."""


_DESCRIPTIONS: tuple[tuple[type[Exception], str], ...] = (
    (ExpiredTokenError, "The access token expired"),
    (NotYetValidError, "The access token is not valid yet"),
    (ClaimError, "The access token claims are not accepted"),
    (InvalidSignatureError, "The access token signature is invalid"),
    (NoMatchingKeyError, "The access token signing key is unknown"),
    (AlgorithmError, "The access token algorithm is not accepted"),
    (MalformedTokenError, "The access token is malformed"),
)


class AuthFailure(Exception):
    """A request refused: the HTTP status, headers and JSON body to answer with."""

    def __init__(
        self,
        status: int,
        error: str | None,
        description: str,
        *,
        scope: str | None = None,
        scheme: str = "Bearer",
        algs: str | None = None,
        nonce: str | None = None,
        also: str | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.scope = scope
        self.scheme = scheme  # "Bearer" (RFC 6750) or "DPoP" (RFC 9449 section 7.1)
        self.algs = algs  # DPoP: the accepted proof algorithms, space-separated
        self.nonce = nonce  # DPoP: a fresh server nonce for the DPoP-Nonce header
        self.also = also  # another scheme offered, e.g. "Bearer" next to "DPoP"

    def challenge(self, realm: str | None = None) -> str | None:
        """The ``WWW-Authenticate`` value (RFC 6750 section 3, RFC 9449 7.1), None for a 503."""
        if self.status == 503:
            return None
        params = []
        if realm:
            params.append(f'realm="{_quote(realm)}"')
        if self.error:
            params.append(f'error="{self.error}"')
            params.append(f'error_description="{_quote(self.description)}"')
        if self.scope:
            params.append(f'scope="{_quote(self.scope)}"')
        if self.algs:
            params.append(f'algs="{_quote(self.algs)}"')
        value = f"{self.scheme} " + ", ".join(params) if params else self.scheme
        return f"{value}, {self.also}" if self.also else value

    def headers(self, realm: str | None = None) -> dict[str, str]:
        """Response headers for this failure (``DPoP-Nonce`` with a nonce challenge)."""
        value = self.challenge(realm)
        out = {"WWW-Authenticate": value} if value else {"Retry-After": "30"}
        if self.nonce:
            out["DPoP-Nonce"] = self.nonce
        out["Cache-Control"] = "no-store"
        return out

    def body(self) -> dict[str, str]:
        """A JSON body in the shape of RFC 6749 section 5.2.

        ``error`` is one of RFC 6750 section 3.1's codes, and absent when the
        request carried no credentials (section 3.1: no error code then);
        ``error_description`` is always there.
        """
        out = {"error": self.error} if self.error else {}
        out["error_description"] = self.description
        if self.scope:
            out["scope"] = self.scope
        return out


def _quote(text: str) -> str:
    # RFC 6750 section 3: %x20-21 / %x23-5B / %x5D-7E only.
    return "".join(c for c in text if 0x20 <= ord(c) <= 0x7E and c not in '"\\')


def normalize_scopes(scopes: str | Iterable[str]) -> tuple[str, ...]:
    """Required scopes as a tuple (a string is split on spaces)."""
    items = scopes.split() if isinstance(scopes, str) else list(scopes)
    if not all(isinstance(s, str) and s and " " not in s for s in items):
        raise ValueError("scopes must be non-empty strings without spaces")
    return tuple(items)


def is_exempt(path: str, exempt: tuple[str, ...]) -> bool:
    """Whether ``path`` is one of the exempt paths or lies below one.

    ``/healthz`` exempts ``/healthz`` and ``/healthz/live``, not ``/healthz-admin``:
    a plain prefix test would let a look-alike route skip authentication.
    """
    for prefix in exempt:
        base = prefix.rstrip("/")
        if path in (prefix, base) or path.startswith(base + "/"):
            return True
    return False


def bearer_token(header: str | None) -> str:
    """The token of an ``Authorization: Bearer`` header (RFC 6750 section 2.1)."""
    if not header:
        raise AuthFailure(401, None, "Authentication required")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer":
        raise AuthFailure(401, None, "Bearer authentication required")
    if not token or " " in token:
        raise AuthFailure(400, "invalid_request", "The Authorization header is malformed")
    return token


def token_scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    """Scopes granted by ``scope`` (space-separated) or ``scp`` (a list or a string)."""
    found: set[str] = set()
    scope = claims.get("scope")
    if isinstance(scope, str):
        found.update(scope.split())
    scp = claims.get("scp")
    if isinstance(scp, str):
        found.update(scp.split())
    elif isinstance(scp, list):
        found.update(s for s in scp if isinstance(s, str))
    return frozenset(found)


def check_scopes(claims: Mapping[str, Any], required: Iterable[str]) -> None:
    """Raise a 403 ``insufficient_scope`` failure unless every required scope is granted."""
    required = tuple(required)
    if required and not token_scopes(claims).issuperset(required):
        raise AuthFailure(
            403,
            "insufficient_scope",
            "The access token lacks a required scope",
            scope=" ".join(required),
        )


def refused(exc: Exception, scheme: str = "Bearer", algs: str | None = None) -> AuthFailure:
    """The failure answering a :class:`KeywellError` raised while verifying a token."""
    if isinstance(exc, JWKSError):
        return AuthFailure(503, "temporarily_unavailable", "Signing keys are unavailable")
    for cls, text in _DESCRIPTIONS:
        if isinstance(exc, cls):
            return AuthFailure(401, "invalid_token", text, scheme=scheme, algs=algs)
    return AuthFailure(
        401, "invalid_token", "The access token is invalid", scheme=scheme, algs=algs
    )


def authenticate(
    verifier: TokenVerifier, header: str | None, scopes: Iterable[str] = ()
) -> Mapping[str, Any]:
    """Verify the bearer token of ``header`` and check scopes; raise :class:`AuthFailure`."""
    token = bearer_token(header)
    try:
        claims = verifier.verify(token)
    except KeywellError as exc:
        raise refused(exc) from exc
    check_scopes(claims, scopes)
    return claims


async def aauthenticate(
    verifier: TokenVerifier, header: str | None, scopes: Iterable[str] = ()
) -> Mapping[str, Any]:
    """Like :func:`authenticate`, fetching keys without blocking the event loop."""
    token = bearer_token(header)
    try:
        claims = await verifier.averify(token)
    except KeywellError as exc:
        raise refused(exc) from exc
    check_scopes(claims, scopes)
    return claims
