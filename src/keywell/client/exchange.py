"""One bounded GET, sync or async: the only place keywell's client talks HTTP.

Used for the JWK Set and for discovery documents alike, so both get the same
bounds:

- ``timeout`` covers the **whole** exchange, connect to last body byte, as a
  deadline (:mod:`keywell.client.deadline` for blocking clients,
  ``asyncio.timeout`` for async ones), not httpx's per-operation timeout;
- the body is read raw and decoded here, counted against ``max_bytes``
  **after** decoding (:mod:`keywell.client.decoding`: identity, gzip or
  deflate only, one layer);
- the body is read only for a 200, after ``precheck`` accepted the status
  line and headers.

Every failure is an :class:`ExchangeError` whose ``reason`` names the fault
without secrets (no request headers, no query string).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from keywell.client.deadline import DeadlineExceeded, run_with_deadline
from keywell.client.decoding import BodyRefused, BoundedDecoder, content_coding

__all__ = ["Answer", "ExchangeError", "Precheck", "get_async", "get_sync"]

Precheck = Callable[[httpx.Response], str | None]


@dataclass(frozen=True, slots=True)
class Answer:
    """A response: status, headers, final URL, and the decoded body (200 only)."""

    status: int
    headers: httpx.Headers
    url: httpx.URL
    body: bytes | None


class ExchangeError(Exception):
    """The exchange failed; ``reason`` says why, fit for logs."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _late(timeout: float) -> ExchangeError:
    return ExchangeError(f"timed out: no complete answer within {timeout:g}s")


def _http_failure(exc: httpx.HTTPError | httpx.StreamError, timeout: float) -> ExchangeError:
    if isinstance(exc, httpx.TimeoutException):
        return _late(timeout)
    if isinstance(exc, httpx.TooManyRedirects):
        return ExchangeError("too many redirects")
    text = str(exc)
    detail = text.splitlines()[0][:200] if text else "no detail"
    return ExchangeError(f"{type(exc).__name__}: {detail}")


def _start(response: httpx.Response, precheck: Precheck, max_bytes: int) -> BoundedDecoder | None:
    reason = precheck(response)
    if reason is not None:
        raise ExchangeError(reason)
    if response.status_code != 200:
        return None
    return BoundedDecoder(content_coding(response.headers.get_list("content-encoding")), max_bytes)


def _preloaded(response: httpx.Response, max_bytes: int) -> bytes | None:
    """The body of a response its transport already read, else ``None``.

    Recording or test transports return ``httpx.Response(content=...)``; httpx
    has decoded such a body already; it is held to ``max_bytes`` all the same.
    """
    if not response.is_stream_consumed:
        return None
    body = response.content
    if len(body) > max_bytes:
        raise ExchangeError(f"body of {len(body)} bytes exceeds max_bytes={max_bytes} (decoded)")
    return body


def get_sync(
    client: httpx.Client,
    url: httpx.URL,
    *,
    headers: Mapping[str, str] | None,
    timeout: float,
    max_bytes: int,
    follow_redirects: bool,
    precheck: Precheck,
) -> Answer:
    """GET ``url`` within ``timeout`` seconds in all; raises :class:`ExchangeError`."""
    deadline = time.monotonic() + timeout

    def exchange() -> Answer:
        with client.stream(
            "GET", url, headers=headers, timeout=timeout, follow_redirects=follow_redirects
        ) as response:
            decoder = _start(response, precheck, max_bytes)
            if decoder is None:
                return Answer(response.status_code, response.headers, response.url, None)
            body = _preloaded(response, max_bytes)
            if body is not None:
                return Answer(200, response.headers, response.url, body)
            for chunk in response.iter_raw():
                decoder.feed(chunk)
                if time.monotonic() > deadline:
                    raise _late(timeout)
            return Answer(200, response.headers, response.url, decoder.finish())

    try:
        return run_with_deadline(client, timeout, exchange)
    except DeadlineExceeded:
        raise _late(timeout) from None
    except BodyRefused as exc:
        raise ExchangeError(exc.reason) from None
    except (httpx.HTTPError, httpx.StreamError) as exc:
        raise _http_failure(exc, timeout) from None


async def get_async(
    client: httpx.AsyncClient,
    url: httpx.URL,
    *,
    headers: Mapping[str, str] | None,
    timeout: float,
    max_bytes: int,
    follow_redirects: bool,
    precheck: Precheck,
) -> Answer:
    """Like :func:`get_sync`, without blocking the event loop."""
    try:
        async with asyncio.timeout(timeout):
            async with client.stream(
                "GET", url, headers=headers, timeout=timeout, follow_redirects=follow_redirects
            ) as response:
                decoder = _start(response, precheck, max_bytes)
                if decoder is None:
                    return Answer(response.status_code, response.headers, response.url, None)
                body = _preloaded(response, max_bytes)
                if body is not None:
                    return Answer(200, response.headers, response.url, body)
                async for chunk in response.aiter_raw():
                    decoder.feed(chunk)
                return Answer(200, response.headers, response.url, decoder.finish())
    except TimeoutError:
        raise _late(timeout) from None
    except BodyRefused as exc:
        raise ExchangeError(exc.reason) from None
    except (httpx.HTTPError, httpx.StreamError) as exc:
        raise _http_failure(exc, timeout) from None
