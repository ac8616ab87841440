"""Finding an issuer's ``jwks_uri``: OpenID Connect Discovery 1.0 section 4, then RFC 8414.

The configuration is read from ``{issuer}/.well-known/openid-configuration``
(OIDC Discovery section 4.1); if that is not found, from the RFC 8414
section 3.1 location, where ``/.well-known/oauth-authorization-server`` is
inserted between the host and the issuer's path. The document's ``issuer``
must equal the configured issuer exactly (OIDC Discovery section 4.3, RFC 8414
section 3.3), or the document is refused: a look-alike issuer must not supply
keys. No redirect is followed and the body is size-limited.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from keywell.client.http import BodyTooLarge, BoundedBody, check_url, redact
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


def _judge(url: httpx.URL, status: int, body: bytes | None) -> bytes | None:
    if status == 404:
        return None
    if status != 200 or body is None:
        raise DiscoveryError(f"discovery at {redact(url)} answered HTTP {status}")
    return body


def discover(
    issuer: str,
    *,
    client: httpx.Client | None = None,
    timeout: float = 5.0,
    allow_http: bool = False,
    headers: Mapping[str, str] | None = None,
) -> str:
    """Fetch the issuer's metadata and return its checked ``jwks_uri``."""
    if client is None:
        with httpx.Client() as owned:
            return discover(
                issuer, client=owned, timeout=timeout, allow_http=allow_http, headers=headers
            )
    for url in metadata_urls(issuer, allow_http=allow_http):
        try:
            with client.stream(
                "GET", url, headers=headers, timeout=timeout, follow_redirects=False
            ) as response:
                body = None
                if response.status_code == 200:
                    collected = BoundedBody(_MAX_METADATA_BYTES)
                    for chunk in response.iter_bytes():
                        collected.add(chunk)
                    body = collected.bytes()
                found = _judge(url, response.status_code, body)
        except BodyTooLarge:
            raise DiscoveryError("discovery document is too large") from None
        except httpx.HTTPError as exc:
            raise DiscoveryError(
                f"discovery at {redact(url)} failed: {type(exc).__name__}"
            ) from exc
        if found is not None:
            return check_metadata(found, issuer, allow_http=allow_http)
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
    if client is None:
        async with httpx.AsyncClient() as owned:
            return await adiscover(
                issuer, client=owned, timeout=timeout, allow_http=allow_http, headers=headers
            )
    for url in metadata_urls(issuer, allow_http=allow_http):
        try:
            async with client.stream(
                "GET", url, headers=headers, timeout=timeout, follow_redirects=False
            ) as response:
                body = None
                if response.status_code == 200:
                    collected = BoundedBody(_MAX_METADATA_BYTES)
                    async for chunk in response.aiter_bytes():
                        collected.add(chunk)
                    body = collected.bytes()
                found = _judge(url, response.status_code, body)
        except BodyTooLarge:
            raise DiscoveryError("discovery document is too large") from None
        except httpx.HTTPError as exc:
            raise DiscoveryError(
                f"discovery at {redact(url)} failed: {type(exc).__name__}"
            ) from exc
        if found is not None:
            return check_metadata(found, issuer, allow_http=allow_http)
    raise DiscoveryError(f"no discovery document for issuer {issuer!r}")
