"""Limits on slow and hostile clients: what the key server bounds, where, and what a proxy adds.

The public JWK Sets must keep answering while clients misbehave. Each limit
below is a :class:`~keywell.server.config.ServerConfig` setting (TOML key,
``KEYWELL_<NAME>`` variable, or a ``keywell serve`` option):

=====================  =========  ===========================================
setting                default    enforced by
=====================  =========  ===========================================
``header_read_timeout``  5 s      granian (``http1_settings``), and for
                                  uvicorn ``keywell.server.listeners``: a
                                  connection whose request headers are not
                                  complete in time is closed.
``body_read_timeout``   10 s      this module, under any server: a body not
                                  received in time gets 408 problem+json.
``max_connections``     4096      per worker: granian's ``backpressure``,
                                  uvicorn's ``limit_concurrency`` (503 beyond).
``backlog``             2048      the kernel's listen queue.
``max_body_bytes``      64 KiB    the admin guard (413).
``auth_failure_limit``  20        this module: failed admin authentications
``auth_failure_window`` 60 s      that reached the store (unknown tokens not
                                  in the miss cache), per client address (a
                                  token bucket); then its requests get 429
                                  and ``Retry-After`` without touching it,
                                  except requests whose token the store
                                  accepted in the last hour (vouched for), so
                                  a flood from a shared address never locks
                                  out known-good callers.
=====================  =========  ===========================================

A slow client holds one connection until ``header_read_timeout``; with the
defaults one worker holds 4,096 such connections and still answers everyone
else at its usual latency (``tests/server/test_limits_process.py`` holds 1,000).
Beyond that, put a reverse proxy in front, which buffers requests and bounds
slow clients before they reach the server::

    # nginx
    client_header_timeout 5s;   client_body_timeout 10s;
    client_max_body_size 64k;   keepalive_timeout 15s;
    limit_conn_zone $binary_remote_addr zone=perip:10m;  limit_conn perip 50;
    limit_req_zone $binary_remote_addr zone=admin:10m rate=5r/s;
    location /admin/ { limit_req zone=admin burst=20; proxy_pass http://keywell; }

    # HAProxy
    timeout http-request 5s
    timeout client 15s
    maxconn 20000
    stick-table type ip size 100k expire 60s store conn_cur,http_req_rate(10s)
    http-request track-sc0 src
    http-request deny deny_status 429 if { sc_http_req_rate(0) gt 100 }

Behind a proxy every request comes from the proxy's address, so the
per-address throttle sees one client: let the proxy rate-limit ``/admin/`` by
the real address (as above), or run the server with its proxy-header support
so the ASGI ``client`` is the caller's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import anyio

from keywell.server.auth import StoreMisses
from keywell.server.fastpath import ASGIApp, Message, Receive, Scope, Send
from keywell.server.problems import Problem, send_problem

__all__ = ["ClientLimits", "FailureThrottle"]

_MAX_ADDRESSES = 10_000


class FailureThrottle:
    """A token bucket of authentication failures per client address (no I/O).

    Args:
        limit: failures an address may make in a burst (the bucket's size).
        window: seconds in which an empty bucket refills completely.
        clock: a monotonic clock in seconds (tests pass a frozen one).
        max_addresses: addresses remembered at most; full buckets are dropped first.
    """

    def __init__(
        self,
        *,
        limit: int,
        window: float,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = _MAX_ADDRESSES,
    ) -> None:
        if limit <= 0 or window <= 0 or max_addresses <= 0:
            raise ValueError("limit, window and max_addresses must be positive")
        self._limit = float(limit)
        self._rate = limit / window
        self._clock = clock
        self._max = max_addresses
        self._buckets: dict[str, tuple[float, float]] = {}

    def _level(self, address: str, now: float) -> float:
        hit = self._buckets.get(address)
        if hit is None:
            return self._limit
        tokens, at = hit
        return min(self._limit, tokens + (now - at) * self._rate)

    def retry_after(self, address: str) -> float:
        """Seconds until ``address`` may try again; 0 when it may now."""
        now = self._clock()
        level = self._level(address, now)
        return 0.0 if level >= 1.0 else (1.0 - level) / self._rate

    def fail(self, address: str) -> None:
        """Record one failed authentication by ``address``."""
        now = self._clock()
        level = self._level(address, now) - 1.0
        if address not in self._buckets and len(self._buckets) >= self._max:
            self._buckets = {
                a: (t, at)
                for a, (t, at) in self._buckets.items()
                if t + (now - at) * self._rate < self._limit
            }
            if len(self._buckets) >= self._max:  # all busy: forget the oldest half
                keep = list(self._buckets.items())[self._max // 2 :]
                self._buckets = dict(keep)
        self._buckets[address] = (max(level, 0.0), now)


class ClientLimits:
    """ASGI layer behind the public fast path: failure throttle and body-read deadline.

    Args:
        app: the application (admin guard, framework).
        throttle: counts, per client address, 401 answers that cost a store
            lookup (an unknown token not in the miss cache: see
            :class:`~keywell.server.auth.StoreMisses`); an address out of
            budget gets 429 with ``Retry-After`` before authentication,
            unless ``exempt`` vouches for the request.
        body_timeout: seconds, from the app's first read, to receive the
            whole body; later the client gets 408 and the app a disconnect.
        on_throttled: called once per refused request (metrics).
        exempt: whether a request is never throttled (no I/O): the server
            exempts tokens the store accepted recently
            (:meth:`~keywell.server.auth.Authenticator.vouched`), so unknown
            tokens from a shared address never lock out valid callers.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        throttle: FailureThrottle,
        body_timeout: float,
        on_throttled: Callable[[], None] = lambda: None,
        exempt: Callable[[Scope], bool] = lambda scope: False,
    ) -> None:
        self.app = app
        self.exempt = exempt
        self.throttle = throttle
        self.body_timeout = body_timeout
        self.on_throttled = on_throttled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = str(client[0]) if client else "unknown"
        wait = self.throttle.retry_after(address)
        if wait > 0 and not self.exempt(scope):
            self.on_throttled()
            seconds = str(max(1, math.ceil(wait)))
            problem = Problem(
                429,
                "KW_TOO_MANY_FAILURES",
                "too many failed authentications from this address; retry later",
                headers={"Retry-After": seconds},
            )
            await send_problem(send, problem, head=scope["method"] == "HEAD")
            return
        misses = StoreMisses()
        answered = received = started = False
        deadline: float | None = None

        async def limited_receive() -> Message:
            nonlocal deadline, answered, received
            if answered:
                return {"type": "http.disconnect"}
            if received:  # the body is in: later reads wait for a disconnect, unbounded
                return await receive()
            if deadline is None:
                deadline = anyio.current_time() + self.body_timeout
            with anyio.move_on_after(max(0.0, deadline - anyio.current_time())):
                message = await receive()
                received = message["type"] != "http.request" or not message.get("more_body")
                return message
            if not started:
                answered = True
                problem = Problem(408, "KW_REQUEST_TIMEOUT", "the request body came too slowly")
                await send_problem(send, problem)
            return {"type": "http.disconnect"}

        async def watched_send(message: Message) -> None:
            nonlocal started
            if answered:
                return  # the client already has its 408
            if message["type"] == "http.response.start":
                started = True
                if message["status"] == 401 and misses.count:
                    self.throttle.fail(address)
            await send(message)

        reset = StoreMisses.current.set(misses)
        try:
            await self.app(scope, limited_receive, watched_send)
        finally:
            StoreMisses.current.reset(reset)
