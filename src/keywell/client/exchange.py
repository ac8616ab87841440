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
  line and headers; no other body is ever read (a 3xx body is dropped
  unread, however large or however encoded);
- redirects (301, 302, 303, 307, 308; RFC 9110 section 15.4) are followed
  here, never by httpx (whose redirect handling reads every 3xx body whole
  and keeps it in ``response.history``): only with ``follow_redirects``, at
  most :data:`MAX_REDIRECTS` of them, within the same deadline, each target
  held to the rule of the first URL (https, or http to a loopback host or
  with ``allow_http``; no credentials), and ``Authorization``/``Cookie``
  dropped when the origin changes.

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
from keywell.lifecycle.names import is_loopback

__all__ = [
    "MAX_REDIRECTS",
    "Answer",
    "ExchangeError",
    "Precheck",
    "get_async",
    "get_sync",
    "is_loopback",
    "url_refused",
]

Precheck = Callable[[httpx.Response], str | None]

#: The most redirects one exchange follows (httpx's default is 20).
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CROSS_ORIGIN_DROPPED = ("authorization", "proxy-authorization", "cookie")


@dataclass(frozen=True, slots=True)
class Answer:
    """A response: status, headers, final URL, and the decoded body (200 only)."""

    status: int
    headers: httpx.Headers
    url: httpx.URL
    body: bytes | None


class ExchangeError(Exception):
    """The exchange failed; ``reason`` says why, fit for logs.

    ``too_large`` is True when the body passed ``max_bytes`` (decoded).
    """

    def __init__(self, reason: str, *, too_large: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.too_large = too_large


def url_refused(url: httpx.URL, *, allow_http: bool) -> str | None:
    """Why ``url`` may not be fetched, or None: the one scheme rule for every URL we GET.

    https always; plain http only to a loopback host or with ``allow_http``;
    never credentials in the URL (they would reach logs).
    """
    if url.scheme not in ("https", "http") or not url.host:
        return "the URL must be an absolute https URL"
    if url.scheme == "http" and not allow_http and not is_loopback(url.host):
        return "plain http is refused for a non-loopback host; use https or allow_http=True"
    if url.userinfo:
        return "credentials in the URL are refused; pass them in headers="
    return None


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


class _Hop:
    """Where the next request of one exchange goes, and with which headers."""

    __slots__ = ("allow_http", "count", "follow", "headers", "url")

    def __init__(
        self, url: httpx.URL, headers: Mapping[str, str] | None, follow: bool, allow_http: bool
    ) -> None:
        self.url = url
        self.headers = dict(headers or {})
        self.follow = follow
        self.allow_http = allow_http
        self.count = 0

    def next(self, response: httpx.Response) -> bool:
        """Move to the target of a redirect; False if ``response`` is the answer.

        The redirect response's body is never read: the caller closes it.
        """
        if not self.follow or response.status_code not in _REDIRECTS:
            return False
        if self.count >= MAX_REDIRECTS:
            raise ExchangeError(f"too many redirects (more than {MAX_REDIRECTS})")
        location = response.headers.get("location", "").strip()
        try:
            target = response.url.join(location).copy_with(fragment=None)
        except (httpx.InvalidURL, ValueError):
            target = None
        if not location or target is None:
            raise ExchangeError(f"HTTP {response.status_code} redirect without a usable Location")
        why = url_refused(target, allow_http=self.allow_http)
        if why is not None:
            raise ExchangeError(f"redirect refused: {why}")
        if _origin(target) != _origin(self.url):
            self.headers = {
                k: v for k, v in self.headers.items() if k.lower() not in _CROSS_ORIGIN_DROPPED
            }
        self.url = target
        self.count += 1
        return True


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


def _start(
    response: httpx.Response, hop: _Hop, precheck: Precheck, max_bytes: int
) -> Answer | BoundedDecoder | None:
    """Judge a response head; no body byte is read here.

    None when it was a redirect now followed, the :class:`Answer` when no
    body is to be read (not a 200, or already read), else the decoder the raw
    body is to be fed to.
    """
    if hop.next(response):
        return None
    reason = precheck(response)
    if reason is not None:
        raise ExchangeError(reason)
    if response.status_code != 200:
        return Answer(response.status_code, response.headers, response.url, None)
    body = _preloaded(response, max_bytes)
    if body is not None:
        return Answer(200, response.headers, response.url, body)
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
        raise ExchangeError(
            f"body of {len(body)} bytes exceeds max_bytes={max_bytes} (decoded)", too_large=True
        )
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
    allow_http: bool = False,
) -> Answer:
    """GET ``url`` within ``timeout`` seconds in all, redirects included.

    ``allow_http`` only matters for redirect targets (``url`` was checked by
    the caller). Raises :class:`ExchangeError`.
    """
    deadline = time.monotonic() + timeout
    hop = _Hop(url, headers, follow_redirects, allow_http)

    def one() -> Answer | None:
        with client.stream(
            "GET", hop.url, headers=hop.headers, timeout=timeout, follow_redirects=False
        ) as response:
            decoder = _start(response, hop, precheck, max_bytes)
            if not isinstance(decoder, BoundedDecoder):
                return decoder
            for chunk in response.iter_raw():
                decoder.feed(chunk)
                if time.monotonic() > deadline:
                    raise _late(timeout)
            return Answer(200, response.headers, response.url, decoder.finish())

    def exchange() -> Answer:
        while True:  # bounded: hop.next raises past MAX_REDIRECTS
            answer = one()
            if answer is not None:
                return answer

    try:
        return run_with_deadline(client, timeout, exchange)
    except DeadlineExceeded:
        raise _late(timeout) from None
    except BodyRefused as exc:
        raise ExchangeError(exc.reason, too_large=exc.too_large) from None
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
    allow_http: bool = False,
) -> Answer:
    """Like :func:`get_sync`, without blocking the event loop."""
    hop = _Hop(url, headers, follow_redirects, allow_http)

    async def one() -> Answer | None:
        async with client.stream(
            "GET", hop.url, headers=hop.headers, timeout=timeout, follow_redirects=False
        ) as response:
            decoder = _start(response, hop, precheck, max_bytes)
            if not isinstance(decoder, BoundedDecoder):
                return decoder
            async for chunk in response.aiter_raw():
                decoder.feed(chunk)
            return Answer(200, response.headers, response.url, decoder.finish())

    try:
        async with asyncio.timeout(timeout):
            while True:  # bounded: hop.next raises past MAX_REDIRECTS
                answer = await one()
                if answer is not None:
                    return answer
    except TimeoutError:
        raise _late(timeout) from None
    except BodyRefused as exc:
        raise ExchangeError(exc.reason, too_large=exc.too_large) from None
    except (httpx.HTTPError, httpx.StreamError) as exc:
        raise _http_failure(exc, timeout) from None
