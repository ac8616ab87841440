"""The server's listening socket, bound by keywell itself, and the servers' hooks onto it.

Issue 12: under granian two ``keywell serve`` on one port silently shared it
(granian binds one ``SO_REUSEPORT`` socket per worker, and any process of the
same user may join such a port). :func:`bind_listener` binds without
``SO_REUSEPORT`` in the main process, before a server starts, so a busy port
is an :class:`~keywell.errors.AddressInUseError` whatever either server is;
:func:`granian_on` makes granian's workers serve that socket (as granian does
on Windows) and uvicorn is given it with ``sockets=[...]``.

uvicorn has no header-read timeout of its own: :func:`uvicorn_protocol` adds
one (``header_read_timeout``), so a slow client is dropped under either
server (granian: ``http1_settings.header_read_timeout``).
"""

from __future__ import annotations

import asyncio
import errno
import socket
from typing import Any

from keywell.errors import AddressInUseError

__all__ = ["bind_listener", "granian_on", "uvicorn_protocol"]


def bind_listener(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A listening TCP socket on ``host:port`` that no other process can share.

    ``SO_REUSEADDR`` only (rebinding over TIME_WAIT; on Linux it never lets two
    sockets listen on one port), never ``SO_REUSEPORT``. Port 0 picks a free
    port (read it with ``getsockname()``). The socket is inheritable, for
    granian's worker processes.

    Raises:
        AddressInUseError: another socket listens on ``host:port``.
        OSError: any other bind failure (address not local, permission).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            where = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
            raise AddressInUseError(
                f"address {where} is already in use by another process: stop it, "
                "or choose another --port / --host",
                address=where,
            ) from None
        raise
    sock.set_inheritable(True)
    return sock


def granian_on(listener: socket.socket, *, backlog: int) -> Any:
    """Granian's process-based ``Server`` class serving ``listener`` (never SO_REUSEPORT).

    Its workers are forked and inherit the socket (granian's own path on
    Windows); the main process keeps it and ``serve`` closes it.
    """
    from granian._granian import SocketHolder
    from granian.server import Server

    class OwnSocketServer(Server):  # type: ignore[misc,valid-type]
        def _init_shared_socket(self) -> None:
            self._ssp = None
            self._sfd = listener.fileno()
            self._shd = SocketHolder(self._sfd, False, backlog)  # type: ignore[call-arg]
            self._sso = listener

        def _drop_shared_socket(self) -> None:
            return  # the socket is serve()'s to close

    return OwnSocketServer


def uvicorn_protocol(header_timeout: float) -> Any:
    """Uvicorn's httptools protocol, closing connections whose headers come too slowly.

    The deadline starts when a connection opens (or a later keep-alive
    request's first byte arrives) and ends when the request's headers are
    complete; past it the connection is closed without an answer, as granian does.
    """
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class HeaderDeadlineProtocol(HttpToolsProtocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(header_timeout, self._too_slow)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                self.transport.close()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._deadline is None:
                self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeaderDeadlineProtocol
