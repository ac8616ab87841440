"""The asyncio shell: one JWKS request over an ``httpx.AsyncClient``, turned into a fetch result."""

from __future__ import annotations

import functools

import httpx

from keywell.client.cache import FetchFailed, FetchResult, Ticket
from keywell.client.deadline import shared_ssl_context
from keywell.client.exchange import ExchangeError, get_async
from keywell.client.http import FetchConfig, precheck, request_headers, result_of

__all__ = ["fetch_async"]


async def fetch_async(
    client: httpx.AsyncClient | None, config: FetchConfig, ticket: Ticket | None
) -> FetchResult:
    """Like :func:`keywell.client.sync.fetch_sync`, without blocking the event loop.

    With ``client=None`` a short-lived client is used: an ``AsyncClient`` is
    bound to one event loop, and a fetch happens once per TTL at most.
    """
    if client is None:
        async with httpx.AsyncClient(verify=shared_ssl_context()) as owned:
            return await fetch_async(owned, config, ticket)
    try:
        answer = await get_async(
            client,
            config.url,
            headers=request_headers(ticket, config.headers),
            timeout=config.timeout,
            max_bytes=config.max_bytes,
            follow_redirects=config.follow_redirects,
            allow_http=config.allow_http,
            precheck=functools.partial(
                precheck, allow_http=config.allow_http, max_bytes=config.max_bytes
            ),
        )
    except ExchangeError as exc:
        return FetchFailed(exc.reason)
    return result_of(answer, allow_weak_rsa=config.allow_weak_rsa)
