"""The blocking shell: one JWKS request over an ``httpx.Client``, turned into a fetch result."""

from __future__ import annotations

import time

import httpx

from keywell.client.cache import FetchFailed, FetchResult, Ticket
from keywell.client.http import (
    BodyTooLarge,
    BoundedBody,
    FetchConfig,
    failure_of,
    parse_response,
    request_headers,
    status_result,
)

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
            body = BoundedBody(config.max_bytes)
            for chunk in response.iter_bytes():
                body.add(chunk)
                if time.monotonic() > deadline:
                    return FetchFailed(f"body not received within {config.timeout:g}s")
            return parse_response(
                body.bytes(), response.headers, allow_weak_rsa=config.allow_weak_rsa
            )
    except BodyTooLarge:
        return FetchFailed(f"body exceeds max_bytes={config.max_bytes}")
    except httpx.HTTPError as exc:
        return failure_of(exc, config.timeout)
