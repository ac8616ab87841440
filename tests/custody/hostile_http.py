"""Hostile HTTP servers on loopback for the custody bounds tests: they drip or flood.

Each behaviour answers one request on a raw socket; :class:`Hostile` counts the
bytes it managed to send, so a test can tell how much its client read.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"


def drip_body(conn: socket.socket) -> None:
    conn.sendall(HEAD + b"Content-Length: 1000\r\n\r\n")
    for _ in range(1000):
        conn.sendall(b" ")
        time.sleep(0.2)


def drip_headers(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    for _ in range(1000):
        conn.sendall(b"X: y\r\n")
        time.sleep(0.2)


def flood_length(conn: socket.socket) -> None:
    conn.sendall(HEAD + b"Content-Length: 400000000\r\n\r\n")
    chunk = b"a" * (1024 * 1024)
    for _ in range(400):
        conn.sendall(chunk)


def flood_chunked(conn: socket.socket) -> None:
    conn.sendall(HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"a" * (1024 * 1024)
    for _ in range(400):
        conn.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")


class Hostile:
    """A loopback server answering every connection with ``behave``; counts bytes it sent."""

    def __init__(self, behave: Callable[[socket.socket], None]) -> None:
        self.behave = behave
        self.sent = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        real = conn.sendall

        def counted(data: bytes) -> None:
            real(data)
            self.sent += len(data)

        conn.recv(65536)
        try:
            self.behave(_Counting(conn, counted))  # type: ignore[arg-type]
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._listener.close()


class _Counting:
    def __init__(self, conn: socket.socket, sendall: Callable[[bytes], None]) -> None:
        self.sendall = sendall
