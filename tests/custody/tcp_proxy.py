"""A TCP proxy on loopback that a test can make refuse or stall, for backend outages.

The backend (``bao server -dev``: in memory, so it cannot be stopped and
restarted without losing its keys) keeps running; clients reach it through
this proxy, whose mode the test switches:

- ``pass``: bytes flow both ways;
- ``refuse``: every connection is reset at once (RST): to a client the backend
  is gone;
- ``stall``: connections are accepted and never answered: a backend that
  hangs, which only the client's timeout ends.

Switching mode cuts every live connection, so pooled keep-alive connections
cannot carry a request past an outage.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator

_LINGER_RST = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST


class TcpProxy:
    """Forward ``127.0.0.1:<port>`` to ``target``; started by the constructor."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.mode = "pass"
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self._live: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @contextlib.contextmanager
    def refusing(self) -> Iterator[None]:
        """While inside, every connection (new or live) is reset."""
        with self._switched("refuse"):
            yield

    @contextlib.contextmanager
    def stalling(self) -> Iterator[None]:
        """While inside, connections are accepted and never answered."""
        with self._switched("stall"):
            yield

    def close(self) -> None:
        """Stop accepting and reset every connection."""
        self._closed.set()
        self._thread.join(5)
        self._listener.close()
        self.cut()

    def cut(self) -> None:
        """Reset every live connection."""
        with self._lock:
            live, self._live = self._live, set()
        for sock in live:
            _reset(sock)

    @contextlib.contextmanager
    def _switched(self, mode: str) -> Iterator[None]:
        self.mode = mode
        self.cut()
        try:
            yield
        finally:
            self.mode = "pass"
            self.cut()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.mode == "refuse":
                _reset(conn)
            elif self.mode == "stall":
                self._track(conn)
            else:
                threading.Thread(target=self._connect, args=(conn,), daemon=True).start()

    def _connect(self, conn: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _reset(conn)
            return
        upstream.settimeout(None)
        self._track(conn)
        self._track(upstream)
        back = threading.Thread(target=_pump, args=(upstream, conn), daemon=True)
        back.start()
        _pump(conn, upstream)
        back.join()
        with self._lock:
            self._live -= {conn, upstream}
        conn.close()
        upstream.close()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._live.add(sock)


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while chunk := src.recv(65536):
            dst.sendall(chunk)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


def _reset(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
