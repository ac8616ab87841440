"""Issue 10 kind D, redirects: with ``follow_redirects=True`` no 3xx answer is read or kept.

keywell follows redirects itself (:mod:`keywell.client.exchange`), never
httpx, whose redirect handling reads every 3xx body whole (decoded) and keeps
it in ``response.history``. Each member is a hostile first hop × (sync fetch,
async fetch): the set behind a well-formed redirect is accepted, a bad
redirect is a typed refusal, always within ``timeout`` + 2 s and under 50 MB
of traced memory growth.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import tracemalloc
from collections.abc import Callable, Iterator

import pytest

from keywell import JWK, JWKSFetchError
from keywell.client import RemoteJWKSet
from keywell.client.exchange import MAX_REDIRECTS
from keywell.jose.jwkset import JWKSet
from tests.client.hostile_server import Behaviour, HostileServer, bomb, endless, head, reply
from tests.client.jwks_server import jwks

TIMEOUT = 1.0
MB = 1 << 20
KEY = JWK.generate("ES256", kid="good")
GOOD = reply(
    json.dumps(jwks(KEY)).encode(),
    "Content-Type: application/json",
    "Cache-Control: max-age=60",
)
GZIP_BOMB = bomb("gzip", 300)  # ~300 KB on the wire, 300 MiB decoded
ACCEPTED = ""


def _moved(location: str, *headers: str, body: bytes = b"", status: str = "302 Found") -> Behaviour:
    return reply(body, f"Location: {location}", *headers, status=status)


def _huge_identity(conn: socket.socket, srv: HostileServer) -> None:
    first = head("302 Found", "Location: /real", f"Content-Length: {400 * MB}")
    endless(first, bytes(65536))(conn, srv)


def _endless_chunked(conn: socket.socket, srv: HostileServer) -> None:
    first = head("302 Found", "Location: /real", "Transfer-Encoding: chunked")
    endless(first, b"10000\r\n" + bytes(65536) + b"\r\n")(conn, srv)


def _drip_redirect(conn: socket.socket, srv: HostileServer) -> None:
    srv.send_slowly(conn, head("302 Found", "Location: /jwks", "Content-Length: 0"), 0.02)


def _chain(n: int) -> Behaviour:
    """Redirect /jwks -> /r1 -> ... -> /r{n} -> the good set."""

    def run(conn: socket.socket, srv: HostileServer) -> None:
        path = srv.paths[-1]
        step = 0 if path == "/jwks" else int(path[2:])
        (GOOD if step == n else _moved(f"/r{step + 1}"))(conn, srv)

    return run


# member -> (first hop, what the error says or ACCEPTED)
MATRIX: dict[str, tuple[Behaviour, str]] = {
    "302 with a gzip bomb body": (
        _moved("/real", "Content-Encoding: gzip", body=GZIP_BOMB),
        ACCEPTED,
    ),
    "302 with a layered-coding bomb": (
        _moved("/real", "Content-Encoding: gzip, gzip", body=GZIP_BOMB),
        ACCEPTED,
    ),
    "302 with 400 MB identity body": (_huge_identity, ACCEPTED),
    "302 with an endless chunked body": (_endless_chunked, ACCEPTED),
    "301": (_moved("/real", status="301 Moved Permanently"), ACCEPTED),
    "303": (_moved("/real", status="303 See Other"), ACCEPTED),
    "307": (_moved("/real", status="307 Temporary Redirect"), ACCEPTED),
    "308": (_moved("/real", status="308 Permanent Redirect"), ACCEPTED),
    "absolute loopback Location": (_moved("http://localhost:{port}/real"), ACCEPTED),
    f"chain of {MAX_REDIRECTS}": (_chain(MAX_REDIRECTS), ACCEPTED),
    f"chain of {MAX_REDIRECTS + 1}": (_chain(MAX_REDIRECTS + 1), "too many redirects"),
    "redirect to itself": (_moved("/jwks"), "too many redirects"),
    "dripped redirect loop": (_drip_redirect, "timed out|too many redirects"),
    "to plain http off loopback": (_moved("http://jwks.example/keys"), "plain http"),
    "to ftp": (_moved("ftp://127.0.0.1/keys"), "absolute https URL"),
    "with credentials": (_moved("http://u:p@127.0.0.1:{port}/real"), "credentials"),
    "no Location": (reply(b"", status="302 Found"), "usable Location"),
    "empty Location": (_moved(""), "usable Location"),
    # httpx itself refuses this Location while reading the 3xx head
    "unparsable Location": (_moved("http://[::1"), "Invalid URL in location"),
    "300 is not followed": (_moved("/real", status="300 Multiple Choices"), "HTTP 300"),
    "305 is not followed": (_moved("/real", status="305 Use Proxy"), "HTTP 305"),
}


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    srv = HostileServer()
    yield srv
    srv.stop()


def _serve(first: Behaviour) -> Behaviour:
    def run(conn: socket.socket, srv: HostileServer) -> None:
        (first if srv.paths[-1] != "/real" else GOOD)(conn, srv)

    return run


def _port_in(behaviour: Behaviour, port: int) -> Behaviour:
    """Fill ``{port}`` in a Location header now that the server's port is known."""

    def run(conn: socket.socket, srv: HostileServer) -> None:
        real = conn.sendall

        class Patched:
            def sendall(self, data: bytes) -> None:
                real(data.replace(b"{port}", str(port).encode()))

            def __getattr__(self, name: str) -> object:
                return getattr(conn, name)

        behaviour(Patched(), srv)  # type: ignore[arg-type]

    return run


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("member", list(MATRIX))
def test_redirect_answer_is_bounded(hostile: HostileServer, member: str, mode: str) -> None:
    first, says = MATRIX[member]
    hostile.behaviour = _port_in(_serve(first), hostile.port)
    remote = RemoteJWKSet(
        hostile.url(), timeout=TIMEOUT, max_bytes=MB, follow_redirects=True, cooldown=30.0
    )
    fetch: Callable[[], JWKSet] = (
        remote.jwks if mode == "sync" else lambda: asyncio.run(remote.ajwks())
    )
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    started = time.monotonic()
    try:
        if says is ACCEPTED:
            assert [k.kid for k in fetch()] == ["good"]
        else:
            with pytest.raises(JWKSFetchError, match=says):
                fetch()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < TIMEOUT + 2.0
    assert peak - base < 50 * MB
    assert hostile.hits() <= MAX_REDIRECTS + 1
    remote.close()


def test_no_redirect_is_followed_by_default(hostile: HostileServer) -> None:
    hostile.behaviour = _serve(_moved("/real", "Content-Encoding: gzip", body=GZIP_BOMB))
    remote = RemoteJWKSet(hostile.url(), timeout=TIMEOUT)
    with pytest.raises(JWKSFetchError, match="HTTP 302 redirect refused"):
        remote.jwks()
    assert hostile.paths == ["/jwks"]
    remote.close()


@pytest.mark.parametrize(("host", "kept"), [("127.0.0.1", True), ("localhost", False)])
def test_credentials_do_not_cross_origins(hostile: HostileServer, host: str, kept: bool) -> None:
    hostile.behaviour = _serve(_moved(f"http://{host}:{hostile.port}/real"))
    secret = {"Authorization": "Bearer s3cret", "Cookie": "c=1", "X-Tenant": "t"}
    remote = RemoteJWKSet(hostile.url(), headers=secret, follow_redirects=True)
    assert [k.kid for k in remote.jwks()] == ["good"]
    first, second = hostile.heads
    assert b"s3cret" in first
    assert b"c=1" in first
    assert (b"s3cret" in second) is kept
    assert (b"c=1" in second) is kept
    assert b"X-Tenant: t" in second  # only credentials are dropped
    remote.close()
