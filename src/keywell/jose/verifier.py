"""The one-call verifier: signature, algorithm binding and claims, configured once.

:class:`Verifier` takes anything that offers keys (a :class:`~keywell.JWK`, a
:class:`~keywell.JWKSet`, or a remote set from ``keywell.client``), checks
every argument at construction, and then verifies tokens on a path that does
no more work than the checks demand.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from keywell.errors import KeywellError, TokenError
from keywell.jose._compact import parse_header, split, verify_compact
from keywell.jose._json import loads_object
from keywell.jose.algorithms import ALGORITHMS
from keywell.jose.at_profile import profile_rules
from keywell.jose.claims import ClaimRules, check_claims, check_times, check_typ
from keywell.jose.dpop_policy import DPoPPolicy
from keywell.jose.dpop_request import arecord, check_binding, prepare, record
from keywell.jose.jwk import JWK
from keywell.jose.jws import DEFAULT_MAX_TOKEN_SIZE, KeySource
from keywell.jose.token_cache import (
    DEFAULT_CACHE_BYTES,
    DEFAULT_CACHE_SIZE,
    CacheEntry,
    TokenCache,
    TokenCacheHealth,
    check_bounds,
    generation_of,
    key_still_offered,
)

__all__ = ["AsyncKeySource", "Verifier"]


@runtime_checkable
class AsyncKeySource(Protocol):
    """A key source that may need I/O to find keys (a remote JWK Set)."""

    def candidates(self, kid: str | None, alg: str) -> tuple[JWK, ...]:
        """Keys for this kid and alg, fetching synchronously if needed."""

    async def acandidates(self, kid: str | None, alg: str) -> tuple[JWK, ...]:
        """Keys for this kid and alg, fetching asynchronously if needed."""


class _Prefetched:
    """A key source holding keys an async lookup already found."""

    __slots__ = ("_keys",)

    def __init__(self, keys: tuple[JWK, ...]) -> None:
        self._keys = keys

    def candidates(self, kid: str | None, alg: str) -> tuple[JWK, ...]:
        return self._keys


def _current(entry: CacheEntry, gen: Callable[[], int | None]) -> bool:
    """Whether the source's keys are those the entry was last checked against."""
    now = gen()
    return now is not None and now == entry.gen


class Verifier:
    """Verify JWTs against a key source with fixed rules; returns claims or raises.

    Args:
        keys: a JWK, a JWKSet, or any key source (``keywell.client.RemoteJWKSet``).
        issuer: the accepted issuer(s); ``None`` disables the check explicitly.
        audience: the accepted audience(s); ``None`` disables the check explicitly.
        algorithms: an allow-list narrowing what the keys allow.
        leeway: allowed clock skew in seconds.
        required: claims that must be present (``exp`` by default).
        typ: a required header ``typ`` such as ``at+jwt`` (RFC 9068).
        max_age: the longest accepted age from ``iat``, in seconds.
        max_size: tokens longer than this are refused before parsing.
        clock: returns the current time in seconds (for tests and simulations).
        cache_size: most verified tokens kept in memory (0 turns the cache off);
            see :mod:`keywell.jose.token_cache` for what a hit re-checks.
        cache_bytes: most bytes the cache may hold (its own over-estimate).
        dpop: a :class:`~keywell.jose.dpop_policy.DPoPPolicy` enabling
            :meth:`verify_request` for DPoP-bound tokens (RFC 9449).
        profile: ``"rfc9068"`` requires ``typ: at+jwt`` and the claims of the
            JWT access-token profile (:mod:`keywell.jose.at_profile`).
    """

    __slots__ = (
        "_algorithms",
        "_cache",
        "_clock",
        "_dpop",
        "_generation",
        "_keys",
        "_max_size",
        "_rules",
        "_typ",
    )

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str | Collection[str] | None,
        audience: str | Collection[str] | None,
        algorithms: Iterable[str] | None = None,
        leeway: float = 0,
        required: Collection[str] = ("exp",),
        typ: str | None = None,
        max_age: float | None = None,
        max_size: int = DEFAULT_MAX_TOKEN_SIZE,
        clock: Callable[[], float] = time.time,
        cache_size: int = DEFAULT_CACHE_SIZE,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        dpop: DPoPPolicy | None = None,
        profile: str | None = None,
    ) -> None:
        """Check the configuration; see the class docstring."""
        if dpop is not None and not isinstance(dpop, DPoPPolicy):
            raise TypeError("dpop must be a keywell.jose.DPoPPolicy")
        if profile is not None:
            typ, required = profile_rules(
                profile,
                typ=typ,
                required=required,
                issuer_checked=issuer is not None,
                audience_checked=audience is not None,
            )
        if not callable(getattr(keys, "candidates", None)):
            raise TypeError("keys must be a JWK, a JWKSet or a key source with candidates()")
        if algorithms is not None:
            algs = frozenset(algorithms)
            unknown = algs - ALGORITHMS.keys()
            if unknown or not algs:
                raise ValueError(f"unsupported or empty algorithms: {sorted(unknown)}")
            self._algorithms: frozenset[str] | None = algs
        else:
            self._algorithms = None
        if not isinstance(max_size, int) or max_size <= 0:
            raise ValueError("max_size must be a positive integer")
        self._keys = keys
        self._rules = ClaimRules(
            issuer=issuer, audience=audience, leeway=leeway, required=required, max_age=max_age
        )
        self._typ = typ
        self._max_size = max_size
        self._clock = clock
        check_bounds(cache_size, cache_bytes)
        self._cache = TokenCache(cache_size, cache_bytes) if cache_size else None
        self._generation = generation_of(keys)
        self._dpop = dpop

    @property
    def issuer(self) -> frozenset[str] | None:
        """The accepted issuers, or None when the issuer check is disabled."""
        return self._rules.issuer

    @property
    def audience(self) -> frozenset[str] | None:
        """The accepted audiences, or None when the audience check is disabled."""
        return self._rules.audience

    def verify(self, token: str | bytes) -> Mapping[str, Any]:
        """Verify ``token`` and return its claims, read-only.

        Every registered header parameter and claim present must have its JSON
        type (:mod:`keywell.jose.registered`, RFC 7515/7519 section 4.1). A
        token verified before is answered from the cache when its time claims
        still hold and its key is still in the source
        (:mod:`keywell.jose.token_cache`); any other outcome is the full
        verification's.

        Raises:
            keywell.errors.TokenError subclasses, each saying why, among them
            InvalidHeaderError (a header parameter of the wrong type, before
            any key lookup), SkippedKeyError (the kid names a key skipped when
            the set was parsed) and ClaimError with ``reason="type"``; a
            remote set adds JWKSFetchError. Nothing else escapes.
        """
        cache = self._cache
        if cache is not None and type(token) is str and len(token) <= self._max_size:
            entry = cache.get(token)
            if entry is not None and entry.owner is self:
                gen = self._generation
                if gen is None or _current(entry, gen):
                    claims = self._serve(cache, token, entry)
                else:
                    claims = self._recheck(cache, token, entry, self._lookup(entry))
                if claims is not None:
                    return claims
        return self._verify_with(token, self._keys)

    async def averify(self, token: str | bytes) -> Mapping[str, Any]:
        """Like :meth:`verify`, fetching remote keys without blocking the event loop."""
        keys = self._keys
        cache = self._cache
        if cache is not None and type(token) is str and len(token) <= self._max_size:
            entry = cache.get(token)
            if entry is not None and entry.owner is self:
                gen = self._generation
                if gen is None or _current(entry, gen):
                    claims = self._serve(cache, token, entry)
                else:
                    claims = self._recheck(cache, token, entry, await self._alookup(entry))
                if claims is not None:
                    return claims
        if isinstance(keys, AsyncKeySource):
            gen = self._generation
            before = None if gen is None else gen()
            h, _, _, _ = split(token, self._max_size)
            _, alg, kid = parse_header(h)
            if self._algorithms is None or alg in self._algorithms:
                prefetched = _Prefetched(await keys.acandidates(kid, alg))
                return self._verify_with(token, prefetched, before)
        return self._verify_with(token, keys)

    @property
    def dpop(self) -> DPoPPolicy | None:
        """The DPoP policy, or None when only bearer tokens are verified."""
        return self._dpop

    def _policy(self) -> DPoPPolicy:
        if self._dpop is None:
            raise TypeError("verify_request needs Verifier(..., dpop=DPoPPolicy())")
        return self._dpop

    def verify_request(
        self, method: str, uri: str, authorization: str | None, dpop: str | None
    ) -> Mapping[str, Any]:
        """Verify a request's access token and DPoP proof; return the token's claims.

        Args:
            method: the request method (``"GET"``).
            uri: the request URI as the client addressed it (the public URL
                behind a proxy); query and fragment are ignored.
            authorization: the ``Authorization`` header value
                (``DPoP <token>`` or ``Bearer <token>``), or None.
            dpop: the one ``DPoP`` header value, or None.

        Raises:
            MalformedTokenError: no usable Authorization header.
            DPoPProofError: the proof fails a check of RFC 9449 section 4.3
                (DPoPNonceError: a fresh server nonce is needed, section 9;
                DPoPReplayError: the proof was used before, section 11.1).
            DPoPBindingError: ``cnf.jkt`` does not name the proof's key, or a
                bound token came as Bearer (section 7.2).
            TokenError: whatever :meth:`verify` raises for the token.
            ReplayStoreError: a shared replay store failed.
            TypeError: the verifier was built without ``dpop``.
        """
        policy = self._policy()
        now = self._clock()
        _, token, proof = prepare(policy, method, uri, authorization, dpop, now)
        claims = self.verify(token)
        check_binding(claims, proof)
        if proof is not None:
            record(policy, proof, now)
        return claims

    async def averify_request(
        self, method: str, uri: str, authorization: str | None, dpop: str | None
    ) -> Mapping[str, Any]:
        """Like :meth:`verify_request`, without blocking the event loop on key or store I/O."""
        policy = self._policy()
        now = self._clock()
        _, token, proof = prepare(policy, method, uri, authorization, dpop, now)
        claims = await self.averify(token)
        check_binding(claims, proof)
        if proof is not None:
            await arecord(policy, proof, now)
        return claims

    def _serve(self, cache: TokenCache, token: str, entry: CacheEntry) -> Mapping[str, Any] | None:
        """The entry's claims if its time claims hold now; else drop it and answer None."""
        try:
            check_times(entry.exp, entry.nbf, entry.iat, self._rules, self._clock())
        except TokenError:
            cache.drop(token, entry)
            return None
        return cache.serve(entry)

    def _lookup(self, entry: CacheEntry) -> tuple[tuple[JWK, ...], int | None]:
        """The source's keys for the entry's kid and alg now, and its generation before."""
        gen = self._generation
        before = None if gen is None else gen()
        try:
            return self._keys.candidates(entry.kid, entry.alg), before
        except KeywellError:
            return (), before

    async def _alookup(self, entry: CacheEntry) -> tuple[tuple[JWK, ...], int | None]:
        keys = self._keys
        if not isinstance(keys, AsyncKeySource):
            return self._lookup(entry)
        gen = self._generation
        before = None if gen is None else gen()
        try:
            return await keys.acandidates(entry.kid, entry.alg), before
        except KeywellError:
            return (), before

    def _recheck(
        self,
        cache: TokenCache,
        token: str,
        entry: CacheEntry,
        found: tuple[tuple[JWK, ...], int | None],
    ) -> Mapping[str, Any] | None:
        """Serve the entry if the source still offers its key (then it takes the generation)."""
        keys, before = found
        if not key_still_offered(entry, keys):
            cache.drop(token, entry)
            return None
        entry.gen = before
        return self._serve(cache, token, entry)

    def _verify_with(
        self, token: str | bytes, keys: KeySource, before: int | None = None
    ) -> Mapping[str, Any]:
        cache = self._cache
        if cache is not None:
            cache.misses += 1
            if not isinstance(keys, _Prefetched):
                gen = self._generation
                before = None if gen is None else gen()
        header, payload, key = verify_compact(token, keys, self._algorithms, (), self._max_size)
        if self._typ is not None:
            check_typ(header, self._typ)
        claims = loads_object(payload, "payload")
        check_claims(claims, self._rules, self._clock())
        if cache is None:
            return MappingProxyType(claims)
        text = token if type(token) is str else split(token, self._max_size)[3]
        return cache.put(self, text, claims, payload, key, header.get("kid"), header["alg"], before)

    def health(self) -> TokenCacheHealth:
        """The verified-token cache's sizes and counters (all zero when it is off)."""
        if self._cache is None:
            return TokenCacheHealth(0, 0, 0, 0, 0, 0, 0, 0)
        return self._cache.health()

    def clear_cache(self) -> None:
        """Forget every verified token (e.g. after revoking tokens by other means)."""
        if self._cache is not None:
            self._cache.clear()

    def _share_cache(self, cache: TokenCache | None) -> None:
        """Use ``cache`` (one shared by a MultiIssuerVerifier) instead of an own one."""
        self._cache = cache

    def __repr__(self) -> str:
        """Show the rules, not the keys."""
        issuer = sorted(self._rules.issuer or [])
        audience = sorted(self._rules.audience or [])
        return f"<Verifier issuer={issuer} audience={audience}>"
