"""A raw-socket loopback HTTP server whose bytes and timing each test controls.

Each connection reads one request head, counts it, then hands the socket to
the current behaviour: a function that writes whatever it likes (a bomb, a
drip, a reset) and returns. Threads are daemons; every loop is bounded; the
server stops within a second of :meth:`HostileServer.stop`.
"""

from __future__ import annotations

import gzip
import json
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any

Behaviour = Callable[[socket.socket, "HostileServer"], None]


def head(status: str = "200 OK", *headers: str, version: str = "HTTP/1.1") -> bytes:
    lines = [f"{version} {status}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def bomb(coding: str, decoded_mb: int) -> bytes:
    """``decoded_mb`` MiB of zeros, compressed as gzip or zlib-wrapped deflate (a few KB/MiB)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS if coding == "gzip" else 15)
    block = bytes(1 << 20)
    parts = [packer.compress(block) for _ in range(decoded_mb)]
    parts.append(packer.flush())
    return b"".join(parts)


class HostileServer:
    """Serve ``behaviour`` on 127.0.0.1 (any path); count requests per path."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.paths: list[str] = []
        self.heads: list[bytes] = []
        self.behaviour: Behaviour = lambda sock, srv: None
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def url(self, path: str = "/jwks") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def hits(self) -> int:
        with self.lock:
            return len(self.paths)

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(5.0)
        try:
            while True:  # keep-alive: one behaviour per request
                data = b""
                while b"\r\n\r\n" not in data and len(data) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                path = data.split(b" ", 2)[1].decode("latin-1").split("?")[0]
                with self.lock:
                    self.paths.append(path)
                    self.heads.append(data)
                    behaviour = self.behaviour
                behaviour(conn, self)
        except OSError:
            return
        finally:
            conn.close()

    def send_slowly(self, conn: socket.socket, data: bytes, every: float) -> None:
        """Send ``data`` one byte per ``every`` seconds until done or stopped."""
        for i in range(len(data)):
            if self.stopping.wait(every):
                return
            conn.sendall(data[i : i + 1])

    def stop(self) -> None:
        self.stopping.set()
        self._sock.close()
        self._thread.join(2)


def reply(body: bytes, *headers: str, status: str = "200 OK") -> Behaviour:
    """A complete response with Content-Length, then the connection stays open."""

    def run(conn: socket.socket, srv: HostileServer) -> None:
        conn.sendall(head(status, f"Content-Length: {len(body)}", *headers) + body)

    return run


def json_reply(doc: Any, *headers: str) -> Behaviour:
    return reply(json.dumps(doc).encode(), "Content-Type: application/json", *headers)


def gzipped(doc: Any) -> bytes:
    return gzip.compress(json.dumps(doc).encode())


def reset(conn: socket.socket, srv: HostileServer) -> None:
    """Abort the connection with a TCP RST (SO_LINGER 0), no answer at all."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()
    raise OSError("reset sent")


def endless(first: bytes, piece: bytes, *, seconds: float = 3.0) -> Behaviour:
    """Send ``first``, then ``piece`` as fast as possible until the peer leaves or time is up."""

    def run(conn: socket.socket, srv: HostileServer) -> None:
        conn.sendall(first)
        until = time.monotonic() + seconds
        while time.monotonic() < until and not srv.stopping.is_set():
            conn.sendall(piece)
        raise OSError("done")

    return run
