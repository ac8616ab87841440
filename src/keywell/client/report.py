"""One-shot JWKS fetch for tools: the keys, what was skipped, and the caching headers.

:func:`fetch_report` backs ``keywell jwks fetch URL``: it applies the same
URL, status, size and content rules as :class:`~keywell.client.RemoteJWKSet`
but raises on failure instead of serving a cached set.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from keywell.client.cache import CachePolicy, CachingHeaders, Fetched, FetchFailed, compute_ttl
from keywell.client.deadline import owned_sync_client
from keywell.client.http import FetchConfig, check_url, redact
from keywell.client.sync import fetch_sync
from keywell.errors import JWKSFetchError
from keywell.jose.jwkset import JWKSet

__all__ = ["FetchReport", "fetch_report"]


@dataclass(frozen=True, slots=True)
class FetchReport:
    """What a JWKS URL served: the set, its caching headers, and the TTL keywell would use."""

    url: str
    keys: JWKSet
    headers: CachingHeaders
    ttl: float
    usable_kids: tuple[str | None, ...]


def fetch_report(
    url: str,
    *,
    timeout: float = 5.0,
    max_bytes: int = 1 << 20,
    allow_http: bool = False,
    headers: Mapping[str, str] | None = None,
    policy: CachePolicy | None = None,
    now: float | None = None,
    allow_weak_rsa: bool = False,
) -> FetchReport:
    """Fetch ``url`` once and describe it.

    Raises:
        ValueError: the URL is refused (not https, credentials in it).
        JWKSFetchError: the fetch failed or the set holds no key (usable or skipped); the
            message says why. A set whose keys were all skipped is reported, with why.
    """
    config = FetchConfig(
        url=check_url(url, allow_http=allow_http),
        headers=dict(headers) if headers else None,
        timeout=timeout,
        max_bytes=max_bytes,
        allow_http=allow_http,
        allow_weak_rsa=allow_weak_rsa,
    )
    with owned_sync_client() as client:
        result = fetch_sync(client, config, None)
    if isinstance(result, FetchFailed):
        raise JWKSFetchError(f"JWK Set from {redact(config.url)}: {result.reason}")
    if not isinstance(result, Fetched):  # a 304 to an unconditional request
        raise JWKSFetchError(f"JWK Set from {redact(config.url)}: unexpected HTTP 304")
    ttl = compute_ttl(result.headers, policy or CachePolicy(), time.time() if now is None else now)
    usable = tuple(k.kid for k in result.keys if k.verify_algorithms)
    return FetchReport(redact(config.url), result.keys, result.headers, ttl, usable)
