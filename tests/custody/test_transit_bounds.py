"""A Transit server that drips or floods: every call ends within its timeout, memory bounded.

``requests`` bounds each socket read, not a call: before
:mod:`keywell.custody.bounded_http`, a server sending one byte every half
second held a ``timeout=1`` call for as long as it dripped, and an answer of
any size was read into memory. Each hostile answer here is a real HTTP server
on loopback; the call must end with a typed :class:`CustodyError` within the
timeout (plus a hang-detection margin), having read a bounded amount.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from keywell.custody import close_all
from keywell.custody.transit import TransitCustody
from keywell.custody.transit_wire import MAX_ANSWER
from keywell.custody.uri import parse_custody
from keywell.errors import CustodyError

TIMEOUT = 1.0
MARGIN = 5.0  # hang detection only
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


@pytest.fixture
def token_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "token"
    path.write_text("hvs.not-a-real-token")
    yield path
    close_all()


@pytest.mark.parametrize(
    ("behave", "said"),
    [
        (drip_body, "did not answer within 1 s"),
        (drip_headers, "did not answer within 1 s"),
        (flood_length, "answered more than"),
        (flood_chunked, "answered more than"),
    ],
)
@pytest.mark.parametrize("operation", ["check", "refs", "destroy", "sign"])
def test_a_dripping_or_flooding_server_is_a_bounded_typed_error(
    behave: Callable[[socket.socket], None], said: str, operation: str, token_file: Path
) -> None:
    server = Hostile(behave)
    try:
        uri = f"transit://127.0.0.1:{server.port}/transit?token-file={token_file}&timeout=1"
        custody = TransitCustody.from_spec(parse_custody(uri))
        calls = {
            "check": custody.check,
            "refs": lambda: custody.refs("api"),
            "destroy": lambda: custody.destroy("keywell-api-20300101000000-0123456789abcdef012345"),
            "sign": lambda: custody.signer("keywell-api-x", "ES256")(b"data"),
        }
        started = time.monotonic()
        with pytest.raises(CustodyError) as caught:
            calls[operation]()
        assert time.monotonic() - started < TIMEOUT + MARGIN
        assert said in str(caught.value)
        assert caught.value.backend == "transit"
        assert server.sent < MAX_ANSWER + 32 * 1024 * 1024  # not the 400 MiB offered
        custody.close()
    finally:
        server.close()
