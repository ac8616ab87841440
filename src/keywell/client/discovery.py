"""Finding an issuer's ``jwks_uri``: OpenID Connect Discovery 1.0 section 4, then RFC 8414.

The configuration is read from ``{issuer}/.well-known/openid-configuration``
(OIDC Discovery section 4.1); if that is not found, from the RFC 8414
section 3.1 location, where ``/.well-known/oauth-authorization-server`` is
inserted between the host and the issuer's path. The document's ``issuer``
must equal the configured issuer exactly (OIDC Discovery section 4.3, RFC 8414
section 3.3), or the document is refused: a look-alike issuer must not supply
keys. No redirect is followed; ``timeout`` is one deadline for the whole
discovery (both locations, connect to last byte) and the body has a
decoded-size limit (:mod:`keywell.client.exchange`). RemoteJWKSet runs
discovery lazily, on first use (:meth:`keywell.client.RemoteJWKSet.from_issuer`).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Mapping
from typing import Any

import httpx

from keywell.client.deadline import owned_sync_client, shared_ssl_context
from keywell.client.exchange import Answer, ExchangeError, get_async, get_sync
from keywell.client.http import check_url, precheck, redact
from keywell.errors import DiscoveryError

__all__ = ["adiscover", "check_metadata", "discover", "metadata_urls"]

_MAX_METADATA_BYTES = 256 * 1024


def metadata_urls(issuer: str, *, allow_http: bool = False) -> tuple[httpx.URL, httpx.URL]:
    """The OIDC Discovery URL and the RFC 8414 URL for ``issuer``."""
    url = check_url(issuer, allow_http=allow_http)
    if url.query or url.fragment:
        raise ValueError("an issuer identifier has no query or fragment (RFC 8414 section 2)")
    path = url.path.rstrip("/")
    oidc = url.copy_with(path=f"{path}/.well-known/openid-configuration")
    oauth = url.copy_with(path=f"/.well-known/oauth-authorization-server{path}")
    return oidc, oauth


def check_metadata(body: bytes, issuer: str, *, allow_http: bool = False) -> str:
    """The ``jwks_uri`` of a metadata document whose ``issuer`` is exactly ``issuer``.

    Raises:
        DiscoveryError: not a JSON object, issuer differs, or no valid ``jwks_uri``.
    """
    try:
        doc: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise DiscoveryError("discovery document is not valid JSON") from None
    if not isinstance(doc, Mapping):
        raise DiscoveryError("discovery document is not a JSON object")
    found = doc.get("issuer")
    if found != issuer:
        shown = found[:128] if isinstance(found, str) else type(found).__name__
        raise DiscoveryError(
            f"discovery document issuer {shown!r} differs from the configured {issuer!r}"
        )
    jwks_uri = doc.get("jwks_uri")
    if not isinstance(jwks_uri, str):
        raise DiscoveryError("discovery document has no jwks_uri")
    try:
        check_url(jwks_uri, allow_http=allow_http)
    except ValueError as exc:
        raise DiscoveryError(f"discovery jwks_uri refused: {exc}") from None
    return jwks_uri


def _judge(answer: Answer, issuer: str, allow_http: bool) -> str | None:
    """The ``jwks_uri`` from a 200, None for a 404 (try the next location), else refuse."""
    if answer.status == 404:
        return None
    if answer.status != 200 or answer.body is None:
        raise DiscoveryError(f"discovery at {redact(answer.url)} answered HTTP {answer.status}")
    return check_metadata(answer.body, issuer, allow_http=allow_http)


def _left(deadline: float, timeout: float) -> float:
    """Seconds left before ``deadline``; :class:`ExchangeError` once it has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise ExchangeError(f"timed out: no complete answer within {timeout:g}s")
    return left


def _failed(url: httpx.URL, exc: ExchangeError, deadline: float, timeout: float) -> DiscoveryError:
    if time.monotonic() >= deadline:
        why = f"timed out: discovery got no complete answer within {timeout:g}s"
        return DiscoveryError(f"discovery at {redact(url)} failed: {why}")
    return DiscoveryError(f"discovery at {redact(url)} failed: {exc.reason}")


def discover(
    issuer: str,
    *,
    client: httpx.Client | None = None,
    timeout: float = 5.0,
    allow_http: bool = False,
    headers: Mapping[str, str] | None = None,
) -> str:
    """Fetch the issuer's metadata and return its checked ``jwks_uri``.

    ``timeout`` (seconds) bounds the whole discovery, both locations together,
    connect to last byte; the document is limited to 256 KiB decoded.

    Raises:
        DiscoveryError: no document, a refused answer, or a refused document.
        ValueError: the issuer is not an acceptable URL.
    """
    urls = metadata_urls(issuer, allow_http=allow_http)
    if client is None:
        with owned_sync_client() as owned:
            return discover(
                issuer, client=owned, timeout=timeout, allow_http=allow_http, headers=headers
            )
    deadline = time.monotonic() + timeout
    for url in urls:
        try:
            left = _left(deadline, timeout)
            answer = get_sync(client, url, **_options(headers, left, allow_http))
        except ExchangeError as exc:
            raise _failed(url, exc, deadline, timeout) from None
        found = _judge(answer, issuer, allow_http)
        if found is not None:
            return found
    raise DiscoveryError(f"no discovery document for issuer {issuer!r}")


async def adiscover(
    issuer: str,
    *,
    client: httpx.AsyncClient | None = None,
    timeout: float = 5.0,
    allow_http: bool = False,
    headers: Mapping[str, str] | None = None,
) -> str:
    """Like :func:`discover`, without blocking the event loop."""
    urls = metadata_urls(issuer, allow_http=allow_http)
    if client is None:
        async with httpx.AsyncClient(verify=shared_ssl_context()) as owned:
            return await adiscover(
                issuer, client=owned, timeout=timeout, allow_http=allow_http, headers=headers
            )
    deadline = time.monotonic() + timeout
    for url in urls:
        try:
            left = _left(deadline, timeout)
            answer = await get_async(client, url, **_options(headers, left, allow_http))
        except ExchangeError as exc:
            raise _failed(url, exc, deadline, timeout) from None
        found = _judge(answer, issuer, allow_http)
        if found is not None:
            return found
    raise DiscoveryError(f"no discovery document for issuer {issuer!r}")


def _options(headers: Mapping[str, str] | None, timeout: float, allow_http: bool) -> dict[str, Any]:
    merged = {"Accept": "application/json", "Accept-Encoding": "identity", **(headers or {})}
    return {
        "headers": merged,
        "timeout": timeout,
        "max_bytes": _MAX_METADATA_BYTES,
        "follow_redirects": False,
        "precheck": functools.partial(
            precheck, allow_http=allow_http, max_bytes=_MAX_METADATA_BYTES
        ),
    }
