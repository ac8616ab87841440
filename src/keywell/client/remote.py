"""RemoteJWKSet: a JWK Set fetched over https, cached right, usable from threads and asyncio.

The decisions live in :mod:`keywell.client.cache`; the lock, the single
flight and the background refresh in :mod:`keywell.client.coordinator`, the
base class. This module holds the configuration, the discovery constructors
and the key-source protocol. A warm lookup is a clock call, two attribute
reads and the set's own dict lookup.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from keywell.client.cache import CachePolicy, Health
from keywell.client.coordinator import FetchCoordinator
from keywell.client.http import FetchConfig, check_url
from keywell.errors import NoMatchingKeyError
from keywell.jose.jwk import JWK
from keywell.jose.jwkset import JWKSet

__all__ = ["RemoteJWKSet"]

_MEMO_SIZE = 1024


class RemoteJWKSet(FetchCoordinator):
    """A remote JWK Set; a key source for :class:`keywell.Verifier` (sync and async).

    Args:
        url: the https URL of the set (http only for loopback or ``allow_http``).
        cooldown: least seconds from the end of one fetch to the start of the
            next. A token whose kid is not in the set causes one refetch once
            the cooldown has passed (OpenID Connect Core 1.0 section 10.1.1),
            shared by every waiting thread and task; within the cooldown it is
            refused at once. Nothing is remembered about unknown kids longer.
        min_ttl, max_ttl: bounds on the freshness the server grants (RFC 9111 section 4.2.1).
        default_ttl: freshness when the server sends no caching headers.
        timeout: seconds for the whole exchange, connect to last body byte (a
            deadline, not a per-read timeout).
        max_bytes: largest body accepted, counted after decoding; only the
            identity, gzip and deflate content codings, one layer, are accepted.
        max_stale: how long past expiry the last good set serves while fetches
            fail (stale-if-error, RFC 5861 section 4).
        refresh_ahead: refetch in the background this many seconds before expiry.
        http_client: an ``httpx.Client`` or ``httpx.AsyncClient`` to use.
        headers: extra request headers (never logged).
        allow_http: accept plain http for non-loopback hosts (testing only).
        follow_redirects: follow redirects (refused by default).
        allow_weak_rsa: accept RSA keys under 2048 bits.
        clock: returns the current time in seconds.
    """

    def __init__(
        self,
        url: str,
        *,
        cooldown: float = 30.0,
        min_ttl: float = 60.0,
        max_ttl: float = 86400.0,
        default_ttl: float = 600.0,
        timeout: float = 5.0,
        max_bytes: int = 1 << 20,
        max_stale: float = 6 * 3600.0,
        refresh_ahead: float | None = None,
        http_client: httpx.Client | httpx.AsyncClient | None = None,
        headers: Mapping[str, str] | None = None,
        allow_http: bool = False,
        follow_redirects: bool = False,
        allow_weak_rsa: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Check the configuration; nothing is fetched until first use."""
        if http_client is not None and not isinstance(
            http_client, httpx.Client | httpx.AsyncClient
        ):
            raise TypeError("http_client must be an httpx.Client or httpx.AsyncClient")
        config = FetchConfig(
            url=check_url(url, allow_http=allow_http),
            headers=dict(headers) if headers else None,
            timeout=timeout,
            max_bytes=max_bytes,
            allow_http=allow_http,
            follow_redirects=follow_redirects,
            allow_weak_rsa=allow_weak_rsa,
        )
        policy = CachePolicy(
            cooldown=cooldown,
            min_ttl=min_ttl,
            max_ttl=max_ttl,
            default_ttl=default_ttl,
            max_stale=max_stale,
            refresh_ahead=refresh_ahead,
        )
        super().__init__(config, policy, http_client, clock)

    @classmethod
    def from_issuer(
        cls,
        issuer: str,
        *,
        lazy: bool = True,
        allow_http: bool = False,
        http_client: httpx.Client | httpx.AsyncClient | None = None,
        timeout: float = 5.0,
        headers: Mapping[str, str] | None = None,
        **options: Any,
    ) -> RemoteJWKSet:
        """The set of ``issuer``, found by discovery (see :mod:`keywell.client.discovery`).

        Lazy by default, the way to build it at application start-up: nothing
        is fetched here, so an app starts while its issuer is down. The first
        lookup (sync or async) discovers the ``jwks_uri`` (OpenID Connect
        Discovery 1.0 section 4, then RFC 8414 section 3) and fetches the set,
        as one single flight; a failed discovery raises
        :class:`~keywell.errors.DiscoveryError` and is retried by the first
        lookup after ``cooldown``. Once found, the ``jwks_uri`` is kept.
        ``timeout`` (seconds) is one deadline for that first lookup, both
        metadata locations and the set together.

        ``lazy=False`` discovers now, in the calling thread (or use
        :meth:`afrom_issuer` from async code).

        Raises:
            ValueError: the issuer is not an acceptable URL (at once, even lazily).
            DiscoveryError: (eager only) no metadata, an issuer that differs,
                or a bad ``jwks_uri``.
        """
        if lazy:
            from keywell.client.discovery import metadata_urls

            placeholder, _ = metadata_urls(issuer, allow_http=allow_http)
            remote = cls(
                str(placeholder),
                allow_http=allow_http,
                http_client=http_client,
                timeout=timeout,
                headers=headers,
                **options,
            )
            remote._defer_discovery(issuer)
            return remote
        if isinstance(http_client, httpx.AsyncClient):
            raise TypeError("an eager from_issuer needs an httpx.Client; use afrom_issuer")
        from keywell.client.discovery import discover

        jwks_uri = discover(
            issuer, client=http_client, timeout=timeout, allow_http=allow_http, headers=headers
        )
        return cls(
            jwks_uri,
            allow_http=allow_http,
            http_client=http_client,
            timeout=timeout,
            headers=headers,
            **options,
        )

    @classmethod
    async def afrom_issuer(
        cls,
        issuer: str,
        *,
        allow_http: bool = False,
        http_client: httpx.AsyncClient | None = None,
        timeout: float = 5.0,
        headers: Mapping[str, str] | None = None,
        **options: Any,
    ) -> RemoteJWKSet:
        """Like ``from_issuer(issuer, lazy=False)``, discovering now without blocking the loop.

        Raises:
            DiscoveryError: no metadata, an issuer that differs, or a bad ``jwks_uri``.
        """
        from keywell.client.discovery import adiscover

        jwks_uri = await adiscover(
            issuer, client=http_client, timeout=timeout, allow_http=allow_http, headers=headers
        )
        return cls(
            jwks_uri,
            allow_http=allow_http,
            http_client=http_client,
            timeout=timeout,
            headers=headers,
            **options,
        )

    # -- the key-source protocol -------------------------------------------------

    def candidates(self, kid: str | None, alg: str) -> tuple[JWK, ...]:
        """Keys that may verify a token with this kid and alg, fetching if needed.

        Warm, this is a clock call and a dict lookup: the answers for the
        current set are memoised per (kid, alg) until the set changes.

        Raises:
            NoMatchingKeyError: the kid is unknown (and a refetch did not or may not help).
            AlgorithmError: the key with this kid does not allow ``alg``.
            JWKSFetchError: no usable set: fetches failed and no cached set remains.
        """
        if self._clock() < self._fresh_until:
            found = self._memo.get((kid, alg))
            if found is not None:
                return found
        memo = self._memo
        keys = self._ensure(kid)
        return self._select(memo, keys, kid, alg)

    async def acandidates(self, kid: str | None, alg: str) -> tuple[JWK, ...]:
        """Like :meth:`candidates`, awaiting a fetch instead of blocking."""
        if self._clock() < self._fresh_until:
            found = self._memo.get((kid, alg))
            if found is not None:
                return found
        memo = self._memo
        keys = await self._aensure(kid)
        return self._select(memo, keys, kid, alg)

    def key_generation(self) -> int | None:
        """A number that changes whenever the keys change; None once a lookup is due.

        The verified-token cache (:mod:`keywell.jose.token_cache`) compares it
        with the number a cached token was checked against: equal means the
        key is still here. ``None`` (the set is due for a refresh) makes the
        next hit look its key up through :meth:`candidates`, which refreshes.
        """
        if self._clock() < self._fresh_until:
            return self._generation
        return None

    def _select(
        self,
        memo: dict[tuple[str | None, str], tuple[JWK, ...]],
        keys: JWKSet,
        kid: str | None,
        alg: str,
    ) -> tuple[JWK, ...]:
        found = keys.candidates(kid, alg)
        # memo belongs to one set: store only if that set is still current
        if keys is self._core.keys and memo is self._memo and len(memo) < _MEMO_SIZE:
            memo[(kid, alg)] = found
        return found

    def get_key(self, kid: str) -> JWK:
        """The key with this kid, fetching if needed (raises NoMatchingKeyError)."""
        key = self._ensure(kid).get(kid)
        if key is None:
            raise NoMatchingKeyError(self._kid_message(kid, "not in the set"))
        return key

    async def aget_key(self, kid: str) -> JWK:
        """Like :meth:`get_key`, without blocking the event loop."""
        key = (await self._aensure(kid)).get(kid)
        if key is None:
            raise NoMatchingKeyError(self._kid_message(kid, "not in the set"))
        return key

    def jwks(self) -> JWKSet:
        """The current set, fetching it if needed."""
        return self._ensure(None)

    async def ajwks(self) -> JWKSet:
        """Like :meth:`jwks`, without blocking the event loop."""
        return await self._aensure(None)

    def health(self) -> Health:
        """Last success, last error, age of the set and counters."""
        with self._lock:
            return self._core.health(self._clock())

    @property
    def url(self) -> str:
        """The set's URL without query (safe to log); the issuer until lazy discovery ran."""
        return self._url_text

    def __enter__(self) -> RemoteJWKSet:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self) -> RemoteJWKSet:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        """The URL without query; never the request headers."""
        return f"<RemoteJWKSet {self._url_text} kids={[k.kid for k in self._core.keys]!r}>"
