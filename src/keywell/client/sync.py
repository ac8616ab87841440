"""The blocking shell: one JWKS request over an ``httpx.Client``, turned into a fetch result."""

from __future__ import annotations

import functools

import httpx

from keywell.client.cache import FetchFailed, FetchResult, Ticket
from keywell.client.exchange import ExchangeError, get_sync
from keywell.client.http import FetchConfig, precheck, request_headers, result_of

__all__ = ["fetch_sync"]


def fetch_sync(client: httpx.Client, config: FetchConfig, ticket: Ticket | None) -> FetchResult:
    """GET the set with the ticket's validators; never raises for network or content faults.

    ``config.timeout`` bounds the whole exchange and ``config.max_bytes`` the
    decoded body (:mod:`keywell.client.exchange`).
    """
    try:
        answer = get_sync(
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
