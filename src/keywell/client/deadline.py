"""One deadline for a whole blocking HTTP exchange, connect to last body byte.

httpx's ``timeout`` bounds each network operation, so a server that sends
one byte every second never trips it. The sync clients keywell creates use a
network backend whose every connect, read, write and TLS handshake gets
``min(operation timeout, time left before the deadline)``, and fails once the
deadline has passed. The deadline is a context variable set by
:func:`deadline_scope` around one exchange (the exchange runs in the calling
thread).

A caller's own ``httpx.Client`` cannot be given that backend: its exchange
runs in a worker thread that the caller stops waiting for at the deadline
(:func:`run_with_deadline`); the worker ends at the client's own timeouts.
The async path needs none of this: ``asyncio.timeout`` cancels the task.
"""

from __future__ import annotations

import contextlib
import functools
import ssl
import threading
import time
import typing
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar

import httpcore
import httpx

__all__ = [
    "DeadlineExceeded",
    "deadline_scope",
    "owned_sync_client",
    "run_with_deadline",
    "shared_ssl_context",
]

_DEADLINE: ContextVar[float | None] = ContextVar("keywell_fetch_deadline", default=None)
T = typing.TypeVar("T")


class DeadlineExceeded(Exception):
    """The exchange did not finish before its deadline."""


def _left(timeout: float | None, error: type[Exception] = httpcore.ReadTimeout) -> float | None:
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the deadline of the whole exchange has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: typing.Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, left))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self._inner.connect_tcp(host, port, left, local_address, socket_options)
        )

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_unix_socket(path, left, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """Httpx's default TLS context, built once per process (loading CA roots is slow)."""
    return httpx.create_ssl_context()


class _DeadlineTransport(httpx.HTTPTransport):
    """httpx's transport over a connection pool that honours the deadline."""

    def __init__(self) -> None:
        ssl_context = shared_ssl_context()
        super().__init__(verify=ssl_context)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            network_backend=_DeadlineBackend(),
        )


class _OwnedClient(httpx.Client):
    """A client keywell created, whose exchanges honour :func:`deadline_scope`."""


def owned_sync_client() -> httpx.Client:
    """A new ``httpx.Client`` whose blocking exchanges honour :func:`deadline_scope`."""
    return _OwnedClient(transport=_DeadlineTransport())


@contextlib.contextmanager
def deadline_scope(timeout: float) -> Iterator[float]:
    """Set the deadline ``timeout`` seconds from now for exchanges in this context."""
    deadline = time.monotonic() + timeout
    token = _DEADLINE.set(deadline)
    try:
        yield deadline
    finally:
        _DEADLINE.reset(token)


def run_with_deadline(client: httpx.Client, timeout: float, call: Callable[[], T]) -> T:
    """Run ``call`` (one exchange over ``client``) so that it ends within ``timeout`` seconds.

    Over a client from :func:`owned_sync_client` the call runs here under
    :func:`deadline_scope`. Over another client it runs in a daemon thread;
    past the deadline :class:`DeadlineExceeded` is raised and the thread is
    left to the client's own timeouts.
    """
    if isinstance(client, _OwnedClient):
        with deadline_scope(timeout):
            return call()
    done = threading.Event()
    box: list[typing.Any] = []

    def work() -> None:
        try:
            box.append((True, call()))
        except BaseException as exc:  # handed to the waiting caller
            box.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=work, name="keywell-fetch", daemon=True).start()
    if not done.wait(timeout):
        raise DeadlineExceeded
    ok, value = box[0]
    if ok:
        return typing.cast(T, value)
    raise value
