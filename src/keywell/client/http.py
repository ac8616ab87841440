"""Checking a JWKS URL and the response to a JWKS request, shared by the sync and async shells.

- https only; plain http for loopback hosts, or with an explicit opt-in;
  no credentials in the URL (they would reach logs); a ``jku``/``x5u`` header
  never reaches this module: the URL is configuration, not token input
  (RFC 8725 section 3.10).
- A 200 or, for a conditional request, a 304 (RFC 9110 section 15.4.5); any
  3xx is a failure unless redirects were enabled; every other status too.
- The body is decoded and counted while it streams and refused past
  ``max_bytes`` (:mod:`keywell.client.exchange`); the whole exchange has one
  deadline, ``timeout``.
- The content type is tolerated when it is JSON-like, ``text/plain``,
  ``application/octet-stream`` or absent; an HTML page (a login or error
  page) is refused.
- The set is parsed as a public set (private and symmetric keys refuse the
  whole document) and must hold at least one key usable for verification
  (RFC 7517 sections 4.2, 4.3) or keys it skipped (kept by the cache only
  while it has no usable set: :mod:`keywell.client.cache`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from keywell.client.cache import (
    CachingHeaders,
    Fetched,
    FetchFailed,
    FetchResult,
    NotModified,
    Ticket,
    has_usable_key,
    no_usable_key,
)
from keywell.client.exchange import Answer, is_loopback, url_refused
from keywell.client.freshness import header_integer
from keywell.errors import JWKSError
from keywell.jose.jwkset import JWKSet

__all__ = [
    "FetchConfig",
    "check_url",
    "is_loopback",
    "parse_response",
    "precheck",
    "redact",
    "request_headers",
    "result_of",
]

_ACCEPT = "application/jwk-set+json, application/json;q=0.9, */*;q=0.1"
_TOLERATED_TYPES = ("text/plain", "application/octet-stream")


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchConfig:
    """How one JWKS URL is fetched: checked once, shared by the sync and async shells."""

    url: httpx.URL
    headers: Mapping[str, str] | None = None
    timeout: float = 5.0
    max_bytes: int = 1 << 20
    allow_http: bool = False
    follow_redirects: bool = False
    allow_weak_rsa: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.timeout, int | float) or not self.timeout > 0:
            raise ValueError("timeout must be a positive number of seconds")
        if isinstance(self.max_bytes, bool) or not isinstance(self.max_bytes, int):
            raise TypeError("max_bytes must be an integer")
        if self.max_bytes <= 0:
            raise ValueError("max_bytes must be positive")

    def __repr__(self) -> str:
        """Show the URL without its query; never the request headers."""
        return f"<FetchConfig {redact(self.url)}>"


def check_url(url: str | httpx.URL, *, allow_http: bool = False) -> httpx.URL:
    """Parse and vet a JWKS (or discovery) URL.

    Raises:
        ValueError: not https (and not loopback http, nor ``allow_http``),
            no host, or credentials in the URL.
    """
    if not isinstance(url, str | httpx.URL):
        raise TypeError("url must be a string")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValueError(f"invalid URL: {exc}") from None
    why = url_refused(parsed, allow_http=allow_http)
    if why is not None:
        raise ValueError(why)
    return parsed


def redact(url: httpx.URL) -> str:
    """The URL without query or fragment, safe for logs and messages."""
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}{url.path}"


def request_headers(ticket: Ticket | None, extra: Mapping[str, str] | None) -> dict[str, str]:
    """Request headers: Accept, the caller's extras, then the validators of ``ticket``.

    ``Accept-Encoding: identity`` by default: a JWK Set is small. A server
    that compresses anyway is decoded within ``max_bytes``
    (:mod:`keywell.client.decoding`).
    """
    headers = {"Accept": _ACCEPT, "Accept-Encoding": "identity"}
    if extra:
        headers.update(extra)
    if ticket is not None:
        if ticket.etag is not None:
            headers["If-None-Match"] = ticket.etag
        if ticket.last_modified is not None:
            headers["If-Modified-Since"] = ticket.last_modified
    return headers


def precheck(response: httpx.Response, *, allow_http: bool, max_bytes: int) -> str | None:
    """Judge the final URL, status line and headers before any body byte is read.

    Returns a failure reason, or None to go on (the body is read for a 200 only).
    """
    if response.url.scheme != "https" and not allow_http and not is_loopback(response.url.host):
        return "a redirect led to plain http"
    if response.status_code != 200:
        return None
    # an odd or huge Content-Length is ignored here: the decoder bounds the body
    length = header_integer(response.headers.get("content-length", "").strip(), digits=18)
    if length is not None and length > max_bytes:
        return f"body of {length} bytes exceeds max_bytes={max_bytes}"
    ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype and not (ctype.endswith("json") or ctype in _TOLERATED_TYPES):
        return f"unexpected content type {ctype[:64]!r}"
    return None


def result_of(answer: Answer, *, allow_weak_rsa: bool = False) -> FetchResult:
    """The fetch result of a JWKS answer: 200 parsed, 304 kept, anything else failed."""
    status = answer.status
    if status == 304:
        return NotModified(CachingHeaders.from_mapping(answer.headers))
    if 300 <= status < 400:
        return FetchFailed(f"HTTP {status} redirect refused")
    if status != 200 or answer.body is None:
        return FetchFailed(f"HTTP {status}")
    return parse_response(answer.body, answer.headers, allow_weak_rsa=allow_weak_rsa)


def parse_response(
    body: bytes, headers: Mapping[str, str], *, allow_weak_rsa: bool = False
) -> FetchResult:
    """Parse a 200 body as a public JWK Set that has a usable key, or skipped ones."""
    try:
        keys = JWKSet.from_json(body, public=True, allow_weak_rsa=allow_weak_rsa)
    except JWKSError as exc:
        return FetchFailed(exc.message)
    if not has_usable_key(keys) and not keys.skipped:
        return FetchFailed(no_usable_key(keys))
    # only skipped keys: the cache decides (adopted, or a failure beside a usable set)
    return Fetched(keys, CachingHeaders.from_mapping(headers))
