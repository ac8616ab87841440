"""Issue 10 kind D: no JWKS or discovery answer makes the client use unbounded memory or time.

A hostile raw-socket server (:mod:`tests.client.hostile_server`) × four ways
in (sync and async JWKS fetch, lazy discovery sync and async). Every member
must end in its typed error within ``timeout`` + 2 s, with peak traced memory
growth under 50 MB, the last good set kept, and the next fetch after the
cooldown actually made (the single flight was released).
"""

from __future__ import annotations

import asyncio
import socket
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator

import pytest

from keywell import JWK, DiscoveryError, JWKSFetchError, KeywellError, NoMatchingKeyError
from keywell.client import RemoteJWKSet
from keywell.jose.jwkset import JWKSet
from tests.client.hostile_server import (
    Behaviour,
    HostileServer,
    bomb,
    endless,
    head,
    json_reply,
    reply,
    reset,
)
from tests.client.jwks_server import Clock, jwks

TIMEOUT = 1.0
MB = 1 << 20
KEY = JWK.generate("ES256", kid="good")
GOOD = jwks(KEY)
GZIP_BOMB = bomb("gzip", 100)  # ~100 KB on the wire, 100 MiB decoded
DEFLATE_BOMB = bomb("deflate", 100)
BIG = b'{"keys": [' + b" " * (2 * MB) + b"]}"


def _drip_headers(conn: socket.socket, srv: HostileServer) -> None:
    srv.send_slowly(
        conn, head("200 OK", "Content-Type: application/json", "X-Pad: " + "a" * 60), 0.1
    )


def _drip_body(conn: socket.socket, srv: HostileServer) -> None:
    body = b'{"keys": []}' + b" " * 200
    conn.sendall(head("200 OK", "Content-Type: application/json", f"Content-Length: {len(body)}"))
    srv.send_slowly(conn, body, 0.1)


def _truncated_chunked(conn: socket.socket, srv: HostileServer) -> None:
    conn.sendall(head("200 OK", "Content-Type: application/json", "Transfer-Encoding: chunked"))
    conn.sendall(b"10\r\n" + b'{"keys": [{"kty"')
    conn.shutdown(socket.SHUT_WR)
    raise OSError("closed mid-body")


def _http10_close_delimited(conn: socket.socket, srv: HostileServer) -> None:
    endless(head("200 OK", "Content-Type: application/json", version="HTTP/1.0"), b" " * 65536)(
        conn, srv
    )


def _redirect(status: str) -> Behaviour:
    return reply(b"", "Location: http://127.0.0.1:1/elsewhere", status=status)


# member -> (behaviour, what the error says)
MATRIX: dict[str, tuple[Behaviour, str]] = {
    "gzip bomb": (reply(GZIP_BOMB, "Content-Encoding: gzip"), "exceeds max_bytes"),
    "deflate bomb": (reply(DEFLATE_BOMB, "Content-Encoding: deflate"), "exceeds max_bytes"),
    "br": (reply(b"\x1b\x00", "Content-Encoding: br"), "'br' is refused"),
    "zstd": (reply(b"\x28\xb5\x2f\xfd", "Content-Encoding: zstd"), "'zstd' is refused"),
    "unknown coding": (reply(b"x", "Content-Encoding: x-evil"), "'x-evil' is refused"),
    "layered gzip,gzip": (reply(GZIP_BOMB, "Content-Encoding: gzip, gzip"), "layered"),
    "layered in two fields": (
        reply(GZIP_BOMB, "Content-Encoding: gzip", "Content-Encoding: deflate"),
        "layered",
    ),
    "drip of headers": (_drip_headers, "timed out"),
    "drip of body": (_drip_body, "timed out"),
    "endless headers": (
        endless(b"HTTP/1.1 200 OK\r\n", b"X-Pad: " + b"a" * 1000 + b"\r\n"),
        "Error",
    ),
    "oversize identity": (reply(BIG, "Content-Type: application/json"), "exceeds max_bytes"),
    "no Content-Length oversize": (
        endless(
            head("200 OK", "Content-Type: application/json", "Transfer-Encoding: chunked"),
            b"10000\r\n" + b" " * 65536 + b"\r\n",
        ),
        "exceeds max_bytes",
    ),
    "HTML content type": (reply(b"<html></html>", "Content-Type: text/html"), "content type"),
    "redirect 301": (_redirect("301 Moved Permanently"), "301"),
    "redirect 302": (_redirect("302 Found"), "302"),
    "redirect 307": (_redirect("307 Temporary Redirect"), "307"),
    "redirect 308": (_redirect("308 Permanent Redirect"), "308"),
    "connection reset": (reset, "Error"),
    "truncated chunked body": (_truncated_chunked, "Error"),
    "HTTP/1.0 close-delimited": (_http10_close_delimited, "exceeds max_bytes"),
}
MODES = ["sync fetch", "async fetch", "discovery sync", "discovery async"]


def _healthy(srv: HostileServer) -> Behaviour:
    """A well-behaved issuer: its discovery document, and the good set everywhere else."""
    document = {"issuer": srv.url("/idp"), "jwks_uri": srv.url("/jwks")}
    meta, keys = json_reply(document), json_reply(GOOD, "Cache-Control: max-age=60")

    def run(conn: socket.socket, srv: HostileServer) -> None:
        (meta if srv.paths[-1].endswith("openid-configuration") else keys)(conn, srv)

    return run


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    srv = HostileServer()
    yield srv
    srv.stop()


def _lookup(mode: str, fn: Callable[[], object], afn: Callable[[], Awaitable[object]]) -> None:
    if "async" in mode:
        asyncio.run(afn())  # type: ignore[arg-type]
    else:
        fn()


def _bounded(
    mode: str,
    fn: Callable[[], object],
    afn: Callable[[], Awaitable[object]],
    error: type[Exception],
    says: str,
) -> None:
    """The lookup raises ``error`` saying ``says``, in time and in bounded memory."""
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    started = time.monotonic()
    try:
        with pytest.raises(error, match=says):
            _lookup(mode, fn, afn)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < TIMEOUT + 2.0
    assert peak - base < 50 * MB


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("member", list(MATRIX))
def test_hostile_answer_is_bounded_and_typed(
    hostile: HostileServer, member: str, mode: str
) -> None:
    behaviour, says = MATRIX[member]
    clock = Clock()
    options = {"clock": clock, "timeout": TIMEOUT, "max_bytes": MB, "cooldown": 30.0}
    if mode.startswith("discovery"):
        hostile.behaviour = behaviour
        remote = RemoteJWKSet.from_issuer(hostile.url("/idp"), **options)  # type: ignore[arg-type]
        _bounded(mode, remote.jwks, remote.ajwks, DiscoveryError, says)
        assert remote.health().state == "empty"
    else:
        hostile.behaviour = _healthy(hostile)
        remote = RemoteJWKSet(hostile.url(), **options)  # type: ignore[arg-type]
        cold = RemoteJWKSet(hostile.url(), **options)  # type: ignore[arg-type]
        assert isinstance(remote.jwks(), JWKSet)
        hostile.behaviour = behaviour
        _bounded(mode, cold.jwks, cold.ajwks, JWKSFetchError, says)
        clock.advance(61)  # the good set expired: the refetch meets the hostile answer
        hits = hostile.hits()
        _bounded(
            mode,
            lambda: remote.get_key("other"),
            lambda: remote.aget_key("other"),
            NoMatchingKeyError,
            says,
        )
        assert hostile.hits() == hits + 1
        assert remote.get_key("good") == KEY.public()  # the last good set is kept (stale)
        assert remote.health().state == "stale"
        cold.close()
    hits = hostile.hits()
    clock.advance(10)  # within the cooldown: no new request
    with pytest.raises(KeywellError):
        remote.get_key("other")
    assert hostile.hits() == hits
    hostile.behaviour = _healthy(hostile)
    clock.advance(31)  # past the cooldown: the flight was released, the next fetch happens
    assert remote.get_key("good") == KEY.public()
    assert hostile.hits() > hits
    assert remote.health().state == "fresh"
    remote.close()
