"""``ServiceTokenAuth``: an ``httpx.Auth`` that signs short-lived service-to-service JWTs.

Each request carries ``Authorization: Bearer <jwt>`` (RFC 6750 section 2.1)
whose claims are ``iss``, ``sub``, ``aud``, ``iat``, ``exp`` and a fresh
``jti`` (RFC 7519 section 4.1; RFC 7523 section 3 for the shape). A token is
reused until ``refresh_margin`` seconds before it expires, so signing costs
once per token lifetime, not once per request. The signer is a local private
:class:`~keywell.JWK`, or any object with ``sign(name, claims, ttl=)`` (a
keywell ``Issuer`` signing with the active key of a managed key set).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Generator, Mapping
from typing import Any, Protocol, runtime_checkable

import httpx

from keywell.jose import jwt
from keywell.jose.base64url import b64url_decode
from keywell.jose.jwk import JWK

__all__ = ["ServiceTokenAuth", "TokenSigner"]


@runtime_checkable
class TokenSigner(Protocol):
    """A key-set signer such as keywell's ``Issuer``."""

    def sign(self, name: str, claims: Mapping[str, Any], *, ttl: float) -> str:
        """Sign ``claims`` with the active key of key set ``name``, expiring after ``ttl``."""


class ServiceTokenAuth(httpx.Auth):
    """Sign a short-lived bearer token for outgoing requests, reusing it until near expiry.

    Args:
        signer: a private JWK, or an object with ``sign(name, claims, ttl=)``.
        issuer: the ``iss`` claim (this service); required with a JWK, optional
            with an ``Issuer``, which sets its own.
        audience: the ``aud`` claim (the service called).
        subject: the ``sub`` claim (defaults to ``issuer``).
        ttl: token lifetime in seconds.
        refresh_margin: mint a new token this many seconds before expiry.
        claims: extra claims (``scope``...); registered ones are set here.
        key_set: the key-set name passed to a ``sign(name, ...)`` signer.
        clock: returns the current time in seconds.
    """

    def __init__(
        self,
        signer: JWK | TokenSigner,
        *,
        issuer: str | None = None,
        audience: str,
        subject: str | None = None,
        ttl: float = 300.0,
        refresh_margin: float = 30.0,
        claims: Mapping[str, Any] | None = None,
        key_set: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Check the configuration."""
        if isinstance(signer, JWK):
            if not signer.sign_algorithms or not (signer.is_private or signer.is_symmetric):
                raise ValueError("the JWK cannot sign (a private or secret signing key is needed)")
        elif isinstance(signer, TokenSigner):
            if not key_set:
                raise ValueError("key_set names the key set a sign(name, ...) signer uses")
        else:
            raise TypeError("signer must be a JWK or have sign(name, claims, ttl=)")
        if not audience or (isinstance(signer, JWK) and not issuer):
            raise ValueError("audience is required, and issuer when signing with a JWK")
        if not 0 <= refresh_margin < ttl:
            raise ValueError("need 0 <= refresh_margin < ttl")
        reserved = {"iss", "sub", "aud", "iat", "exp", "jti", "nbf"} & set(claims or ())
        if reserved:
            raise ValueError(f"claim {sorted(reserved)[0]!r} is set by ServiceTokenAuth")
        self._signer = signer
        base: dict[str, Any] = {"aud": audience}
        if issuer:
            base["iss"] = issuer
        if subject or issuer:
            base["sub"] = subject or issuer
        self._claims = {**base, **(claims or {})}
        self._ttl = ttl
        self._margin = refresh_margin
        self._key_set = key_set
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0

    def token(self) -> str:
        """The current token, minting a new one when near expiry."""
        with self._lock:
            now = self._clock()
            if self._token is None or now >= self._expires - self._margin:
                self._token, self._expires = self._mint(now)
            return self._token

    def _mint(self, now: float) -> tuple[str, float]:
        claims = dict(self._claims)
        if isinstance(self._signer, JWK):
            claims["jti"] = secrets.token_urlsafe(16)
            issued = int(now)
            claims["iat"] = issued
            claims["exp"] = issued + int(self._ttl)
            return jwt.encode(claims, self._signer), float(claims["exp"])
        # an Issuer sets iss (if absent), iat, exp and jti itself
        token = self._signer.sign(self._key_set or "", claims, ttl=self._ttl)
        return token, _expiry(token, now + self._ttl)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the bearer token to ``request``."""
        request.headers["Authorization"] = f"Bearer {self.token()}"
        yield request

    def __repr__(self) -> str:
        """Never shows the key or the token."""
        return f"<ServiceTokenAuth iss={self._claims.get('iss')!r} aud={self._claims['aud']!r}>"


def _expiry(token: str, fallback: float) -> float:
    """The ``exp`` of a token we just signed (read, not verified), else ``fallback``."""
    import json

    try:
        payload = json.loads(b64url_decode(token.split(".")[1]))
        exp = payload.get("exp")
    except (ValueError, IndexError, AttributeError):
        return fallback
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else fallback
