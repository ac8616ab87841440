"""The blocking shell: one JWKS request over an ``httpx.Client``, turned into a fetch result."""

from __future__ import annotations

import time

import httpx

from keywell.client.cache import FetchFailed, FetchResult, Ticket
from keywell.client.http import FetchConfig, parse_response, request_headers, status_result

__all__ = ["fetch_sync"]


def fetch_sync(client: httpx.Client, config: FetchConfig, ticket: Ticket | None) -> FetchResult:
    """GET the set with the ticket's validators; never raises for network or content faults."""
    deadline = time.monotonic() + config.timeout
    try:
        with client.stream(
            "GET",
            config.url,
            headers=request_headers(ticket, config.headers),
            timeout=config.timeout,
            follow_redirects=config.follow_redirects,
        ) as response:
            early = status_result(
                response, allow_http=config.allow_http, max_bytes=config.max_bytes
            )
            if early is not None:
                return early
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > config.max_bytes:
                    return FetchFailed(f"body exceeds max_bytes={config.max_bytes}")
                if time.monotonic() > deadline:
                    return FetchFailed(f"body not received within {config.timeout:g}s")
            return parse_response(
                bytes(body), response.headers, allow_weak_rsa=config.allow_weak_rsa
            )
    except httpx.TimeoutException:
        return FetchFailed(f"timed out after {config.timeout:g}s")
    except httpx.TooManyRedirects:
        return FetchFailed("too many redirects")
    except httpx.HTTPError as exc:
        return FetchFailed(f"{type(exc).__name__}: {_short(exc)}")


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else "no detail"
