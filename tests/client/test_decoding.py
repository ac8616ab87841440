"""Content codings and the decoded-size bound (issue 10 kind D), one table, plus the deadline."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
import zlib

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keywell import JWK, JWKSFetchError
from keywell.client import RemoteJWKSet
from keywell.client.decoding import BodyRefused, BoundedDecoder, content_coding
from tests.client.hostile_server import HostileServer, head, reply
from tests.client.jwks_server import Clock

DOC = b'{"keys": []}' * 10


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("fields", "body", "outcome"),
    [
        ([], DOC, DOC),
        (["identity"], DOC, DOC),
        (["IDENTITY, identity"], DOC, DOC),
        (["gzip"], gzip.compress(DOC), DOC),
        (["x-gzip"], gzip.compress(DOC), DOC),
        (["deflate"], zlib.compress(DOC), DOC),
        (["deflate"], _raw_deflate(DOC), DOC),  # raw deflate, as some servers send it
        (["gzip, identity"], gzip.compress(DOC), DOC),
        (["br"], DOC, "'br' is refused"),
        (["zstd"], DOC, "'zstd' is refused"),
        (["compress"], DOC, "'compress' is refused"),
        (["gzip;q=1"], DOC, "is refused"),
        (["gzip, gzip"], gzip.compress(gzip.compress(DOC)), "layered"),
        (["gzip", "deflate"], DOC, "layered"),
        (["deflate, gzip"], DOC, "layered"),
        (["gzip"], gzip.compress(DOC)[:-9], "truncated gzip"),
        (["gzip"], gzip.compress(DOC) * 2, "after the end"),
        (["gzip"], b"\x1f\x8b" + b"\xff" * 40, "corrupt gzip"),
        (["deflate"], b"\xff" * 40, "corrupt deflate"),
        (["gzip"], gzip.compress(bytes(200_000)), "exceeds max_bytes"),
        (["deflate"], zlib.compress(bytes(200_000)), "exceeds max_bytes"),
        ([], bytes(200_000), "exceeds max_bytes"),
    ],
)
def test_codings(fields: list[str], body: bytes, outcome: bytes | str) -> None:
    def decode() -> bytes:
        decoder = BoundedDecoder(content_coding(fields), 100_000)
        for i in range(0, len(body), 7):  # arbitrary chunk boundaries
            decoder.feed(body[i : i + 7])
        return decoder.finish()

    if isinstance(outcome, bytes):
        assert decode() == outcome
    else:
        with pytest.raises(BodyRefused, match=outcome):
            decode()


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=3000),
    limit=st.integers(min_value=1, max_value=4000),
    coding=st.sampled_from(["identity", "gzip", "deflate"]),
    step=st.integers(min_value=1, max_value=500),
)
def test_decoded_size_never_passes_the_bound(
    data: bytes, limit: int, coding: str, step: int
) -> None:
    """Any body, any chunking: the decoded bytes are the original, or refused past the limit."""
    wire = {"identity": data, "gzip": gzip.compress(data), "deflate": zlib.compress(data)}[coding]
    decoder = BoundedDecoder(coding, limit)

    def run() -> bytes:
        for i in range(0, len(wire), step):
            decoder.feed(wire[i : i + step])
        return decoder.finish()

    if len(data) <= limit:
        assert run() == data
    else:
        with pytest.raises(BodyRefused, match="exceeds max_bytes"):
            run()


def test_gzipped_set_is_accepted_within_the_bound(key_a: JWK) -> None:
    srv = HostileServer()
    try:
        doc = json.dumps({"keys": [key_a.public().to_dict()]}).encode()
        srv.behaviour = reply(
            gzip.compress(doc), "Content-Encoding: gzip", "Content-Type: application/json"
        )
        with RemoteJWKSet(srv.url(), clock=Clock(), timeout=1.0) as remote:
            assert remote.get_key("key-a") == key_a.public()
    finally:
        srv.stop()


def test_deadline_holds_with_a_callers_own_sync_client() -> None:
    """A caller's httpx.Client cannot get the deadline backend: the caller stops waiting."""
    srv = HostileServer()

    def drip(conn: socket.socket, s: HostileServer) -> None:
        s.send_slowly(conn, head("200 OK", "X-Pad: " + "a" * 40), 0.1)

    srv.behaviour = drip
    try:
        with httpx.Client() as client:
            remote = RemoteJWKSet(srv.url(), clock=Clock(), timeout=0.5, http_client=client)
            started = time.monotonic()
            with pytest.raises(JWKSFetchError, match="timed out"):
                remote.jwks()
            assert time.monotonic() - started < 0.5 + 2.0
            srv.stopping.set()  # end the drip so the worker thread's read ends
            for worker in threading.enumerate():
                if worker.name == "keywell-fetch":
                    worker.join(5)
                    assert not worker.is_alive()
    finally:
        srv.stop()
