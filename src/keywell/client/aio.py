"""The asyncio shell: one JWKS request over an ``httpx.AsyncClient``, turned into a fetch result."""

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

__all__ = ["fetch_async"]


async def fetch_async(
    client: httpx.AsyncClient | None, config: FetchConfig, ticket: Ticket | None
) -> FetchResult:
    """Like :func:`keywell.client.sync.fetch_sync`, without blocking the event loop.

    With ``client=None`` a short-lived client is used: an ``AsyncClient`` is
    bound to one event loop, and a fetch happens once per TTL at most.
    """
    if client is None:
        async with httpx.AsyncClient() as owned:
            return await fetch_async(owned, config, ticket)
    deadline = time.monotonic() + config.timeout
    try:
        async with client.stream(
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
            async for chunk in response.aiter_bytes():
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
