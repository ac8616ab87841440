"""Verifying tokens from several issuers, each against its own keys only.

:class:`MultiIssuerVerifier` reads the *unverified* ``iss`` claim only to
route: it picks the one :class:`~keywell.Verifier` configured for that issuer,
and that verifier requires ``iss`` to equal the same issuer after the
signature checks out. So an unknown issuer is refused before any network
call, and a key from issuer A's set can never verify a token claiming issuer
B (RFC 8725 section 3.8: validate the issuer and use its keys only).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from keywell.errors import ClaimError, MalformedTokenError, MissingClaimError
from keywell.jose._compact import split
from keywell.jose._json import loads_object
from keywell.jose.base64url import b64url_decode
from keywell.jose.jws import DEFAULT_MAX_TOKEN_SIZE, KeySource
from keywell.jose.token_cache import (
    DEFAULT_CACHE_BYTES,
    DEFAULT_CACHE_SIZE,
    TokenCache,
    TokenCacheHealth,
    check_bounds,
)
from keywell.jose.verifier import Verifier

__all__ = ["MultiIssuerVerifier"]


class MultiIssuerVerifier:
    """Route each token to the verifier of its (configured) issuer.

    Args:
        issuers: issuer -> key source (JWK, JWKSet, RemoteJWKSet) or a
            :class:`~keywell.Verifier` whose issuer is exactly that issuer.
        audience, algorithms, leeway, required, typ, max_age, max_size, clock:
            the rules for verifiers built from key sources (see :class:`~keywell.Verifier`).
        cache_size, cache_bytes: the bounds of the one verified-token cache
            shared by the verifiers built here (``cache_size=0`` turns it off;
            :mod:`keywell.jose.token_cache`). A token found there goes straight
            to the verifier that stored it, without routing; a
            :class:`~keywell.Verifier` passed in keeps its own cache.
    """

    __slots__ = ("_cache", "_max_size", "_verifiers")

    def __init__(
        self,
        issuers: Mapping[str, KeySource | Verifier],
        *,
        audience: str | Collection[str] | None = None,
        algorithms: Iterable[str] | None = None,
        leeway: float = 0,
        required: Collection[str] = ("exp",),
        typ: str | None = None,
        max_age: float | None = None,
        max_size: int = DEFAULT_MAX_TOKEN_SIZE,
        clock: Callable[[], float] = time.time,
        cache_size: int = DEFAULT_CACHE_SIZE,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        """Build or check one verifier per issuer."""
        if not isinstance(issuers, Mapping) or not issuers:
            raise ValueError("issuers must be a non-empty mapping of issuer to keys or Verifier")
        check_bounds(cache_size, cache_bytes)
        cache = TokenCache(cache_size, cache_bytes) if cache_size else None
        verifiers: dict[str, Verifier] = {}
        needs_audience = False
        for issuer, source in issuers.items():
            if not isinstance(issuer, str) or not issuer:
                raise ValueError("each issuer must be a non-empty string")
            if isinstance(source, Verifier):
                if source.issuer != frozenset({issuer}):
                    raise ValueError(f"the Verifier for {issuer!r} must accept exactly that issuer")
                verifiers[issuer] = source
                continue
            needs_audience = True
            verifiers[issuer] = Verifier(
                source,
                issuer=issuer,
                audience=audience,
                algorithms=algorithms,
                leeway=leeway,
                required=required,
                typ=typ,
                max_age=max_age,
                max_size=max_size,
                clock=clock,
                cache_size=0,
            )
            verifiers[issuer]._share_cache(cache)
        if needs_audience and audience is None:
            raise ValueError("audience is required (pass it, or give Verifier objects)")
        self._verifiers = verifiers
        self._max_size = max_size
        self._cache = cache

    @property
    def issuers(self) -> frozenset[str]:
        """The configured issuers."""
        return frozenset(self._verifiers)

    def _route(self, token: str | bytes) -> Verifier:
        _, payload, _, _ = split(token, self._max_size)
        try:
            claims = loads_object(b64url_decode(payload), "payload")
        except ValueError as exc:
            raise MalformedTokenError(f"payload is not valid base64url: {exc}") from None
        if "iss" not in claims or claims["iss"] is None:  # a null required claim is absent
            raise MissingClaimError('the token has no "iss" to route on', claim="iss")
        issuer = claims["iss"]
        if type(issuer) is not str:
            raise ClaimError('claim "iss" must be a string', claim="iss", reason="type")
        verifier = self._verifiers.get(issuer)
        if verifier is None:
            raise ClaimError(
                f"issuer {issuer[:128]!r} is not configured", claim="iss", reason="unknown_issuer"
            )
        return verifier

    def _cached(self, token: str | bytes) -> Verifier | None:
        """The verifier that stored ``token`` in the shared cache, if it did."""
        cache = self._cache
        if cache is None or type(token) is not str or len(token) > self._max_size:
            return None
        entry = cache.get(token)
        owner = None if entry is None else entry.owner
        return owner if isinstance(owner, Verifier) else None

    def verify(self, token: str | bytes) -> Mapping[str, Any]:
        """Verify ``token`` against its issuer's keys and rules; return its claims."""
        return (self._cached(token) or self._route(token)).verify(token)

    async def averify(self, token: str | bytes) -> Mapping[str, Any]:
        """Like :meth:`verify`, fetching remote keys without blocking the event loop."""
        return await (self._cached(token) or self._route(token)).averify(token)

    def health(self) -> TokenCacheHealth:
        """The shared verified-token cache's sizes and counters (zero when it is off)."""
        if self._cache is None:
            return TokenCacheHealth(0, 0, 0, 0, 0, 0, 0, 0)
        return self._cache.health()

    def __repr__(self) -> str:
        """List the issuers."""
        return f"<MultiIssuerVerifier issuers={sorted(self._verifiers)!r}>"
