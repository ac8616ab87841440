"""Issue 10 kind D in the linter: ``keywell jwks lint URL`` is bounded like the client.

``lint_url`` fetches through the client's one bounded exchange, so every
hostile answer of the client's matrix ends in a finding (``fetch-failed`` or
``too-large``) within ``timeout`` + 2 s and under 50 MB of traced memory
growth. ``max-age`` is read by the client's delta-seconds rule, so an odd
value is a ``bad-max-age`` finding, never a crash, and the linter and the cache
agree on every value (table + hypothesis test + a golden CLI rendering).
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from keywell import JWK
from keywell.cli.app import app
from keywell.client.cache import CachePolicy, CachingHeaders, compute_ttl
from keywell.lint import lint_cache_headers, lint_url
from keywell.lint.http import MAX_BODY
from tests.client.hostile_server import Behaviour, HostileServer, bomb, endless, head, reply
from tests.lint.conftest import GOLDEN

TIMEOUT = 1.0
MB = 1 << 20
SET = json.dumps({"keys": [JWK.generate("ES256", kid="k1").public().to_dict()]}).encode()
GZIP_BOMB = bomb("gzip", 100)  # ~100 KB on the wire, 100 MiB decoded
JSON = "Content-Type: application/json"


def _drip_headers(conn: socket.socket, srv: HostileServer) -> None:
    srv.send_slowly(conn, head("200 OK", JSON, "X-Pad: " + "a" * 60), 0.1)


def _drip_body(conn: socket.socket, srv: HostileServer) -> None:
    body = SET + b" " * 200
    conn.sendall(head("200 OK", JSON, f"Content-Length: {len(body)}"))
    srv.send_slowly(conn, body, 0.1)


def _early_hints_flood(conn: socket.socket, srv: HostileServer) -> None:
    endless(b"", head("103 Early Hints", "Link: </x>; rel=preload"))(conn, srv)


def _reset(conn: socket.socket, srv: HostileServer) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()
    raise OSError("reset sent")


# member -> (behaviour, finding code, what its message says)
MATRIX: dict[str, tuple[Behaviour, str, str]] = {
    "drip of headers": (_drip_headers, "fetch-failed", "timed out"),
    "drip of body": (_drip_body, "fetch-failed", "timed out"),
    "103 flood": (_early_hints_flood, "fetch-failed", ""),
    "endless headers": (
        endless(b"HTTP/1.1 200 OK\r\n", b"X-Pad: " + b"a" * 1000 + b"\r\n"),
        "fetch-failed",
        "",
    ),
    "gzip bomb": (reply(GZIP_BOMB, JSON, "Content-Encoding: gzip"), "too-large", "decoded"),
    "deflate bomb": (
        reply(bomb("deflate", 100), JSON, "Content-Encoding: deflate"),
        "too-large",
        "decoded",
    ),
    "gzip, gzip": (
        reply(GZIP_BOMB, JSON, "Content-Encoding: gzip, gzip"),
        "fetch-failed",
        "layered",
    ),
    "gzip in two fields": (
        reply(GZIP_BOMB, JSON, "Content-Encoding: gzip", "Content-Encoding: gzip"),
        "fetch-failed",
        "layered",
    ),
    "br": (reply(b"\x1b\x00", JSON, "Content-Encoding: br"), "fetch-failed", "'br' is refused"),
    "corrupt gzip": (
        reply(b"\x1f\x8b" + b"x" * 30, JSON, "Content-Encoding: gzip"),
        "fetch-failed",
        "corrupt",
    ),
    "oversize identity": (reply(b" " * (MAX_BODY + 10), JSON), "too-large", "over"),
    "endless chunked": (
        endless(
            head("200 OK", JSON, "Transfer-Encoding: chunked"),
            b"10000\r\n" + bytes(65536) + b"\r\n",
        ),
        "too-large",
        "over",
    ),
    "HTTP/1.0 close-delimited": (
        endless(head("200 OK", JSON, version="HTTP/1.0"), b" " * 65536),
        "too-large",
        "over",
    ),
    "302 with a gzip bomb body": (
        reply(GZIP_BOMB, "Location: /real", "Content-Encoding: gzip", status="302 Found"),
        "http-status",
        "302 to /real",
    ),
    "connection reset": (_reset, "fetch-failed", ""),
}


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    srv = HostileServer()
    yield srv
    srv.stop()


@pytest.mark.parametrize("member", list(MATRIX))
def test_lint_url_is_bounded(hostile: HostileServer, member: str) -> None:
    behaviour, code, says = MATRIX[member]
    hostile.behaviour = behaviour
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    started = time.monotonic()
    try:
        report = lint_url(hostile.url(), timeout=TIMEOUT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < TIMEOUT + 2.0
    assert peak - base < 50 * MB
    assert report.codes == {code}
    assert says in report.findings[0].message
    assert report.failed
    assert hostile.hits() == 1  # no redirect followed, no retry


def test_cli_lint_url_header_drip_ends_with_its_timeout(hostile: HostileServer) -> None:
    hostile.behaviour = _drip_headers
    started = time.monotonic()
    result = CliRunner().invoke(app, ["jwks", "lint", hostile.url(), "--timeout", "1"])
    assert time.monotonic() - started < TIMEOUT + 2.0
    assert result.exit_code == 1
    assert "fetch-failed" in result.stdout
    assert "timed out" in result.stdout


POLICY = CachePolicy()
BAD_MAX_AGE = [
    "²",
    "9" * 5000,
    "12345678901",
    "-1",
    "+3600",
    "1e9",
    "0x10",
    "3600.0",
    "3 600",
    "٣٦٠٠",  # Arabic-Indic digits: str.isdigit says yes
    "",
    "soon",
]


@pytest.mark.parametrize("value", BAD_MAX_AGE)
def test_bad_max_age_is_a_finding_and_the_default_ttl(value: str) -> None:
    headers = {
        "cache-control": f"public, max-age={value}",
        "etag": '"x"',
        "content-type": "application/json",
    }
    findings = lint_cache_headers(headers)
    assert [f.code for f in findings] == ["bad-max-age"]
    assert value[:32] in findings[0].message
    ttl = compute_ttl(CachingHeaders(cache_control=headers["cache-control"]), POLICY, 0.0)
    assert ttl == POLICY.default_ttl  # the cache reads the same value as absent


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("3600", None),
        ('"3600"', None),
        ("0003600", None),
        ("60", "max-age-short"),
        ("9999999999", "max-age-long"),
    ],
)
def test_good_max_age_values(value: str, code: str | None) -> None:
    headers = {
        "cache-control": f"max-age={value}",
        "etag": '"x"',
        "content-type": "application/json",
    }
    assert [f.code for f in lint_cache_headers(headers)] == ([code] if code else [])


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["cache-control", "age", "expires", "date", "etag", "content-type"]),
        st.text(max_size=300),
    )
)
def test_lint_cache_headers_never_raises_and_agrees_with_the_cache(headers: dict[str, str]) -> None:
    findings = lint_cache_headers(headers)
    codes = {f.code for f in findings}
    cached = CachingHeaders.from_mapping(headers)
    ttl = compute_ttl(cached, POLICY, 0.0)
    if "bad-max-age" in codes:
        assert ttl == POLICY.default_ttl or "expires" in headers
    assert POLICY.min_ttl <= ttl <= POLICY.max_ttl


def test_bad_max_age_golden(hostile: HostileServer, monkeypatch: pytest.MonkeyPatch) -> None:
    hostile.behaviour = reply(SET, JSON, 'ETag: "v1"', "Cache-Control: public, max-age=²")
    result = CliRunner().invoke(app, ["jwks", "lint", hostile.url()])
    out = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", result.stdout)
    golden = GOLDEN / "http" / "bad-max-age.txt"
    if os.environ.get("KEYWELL_UPDATE_GOLDEN") == "1":
        golden.write_text(out)
        pytest.fail(
            "golden rewritten: review the diff, then run again without KEYWELL_UPDATE_GOLDEN"
        )
    assert out == golden.read_text()
    assert result.exit_code == 0


@pytest.mark.parametrize(
    "url",
    ["http://[::1", "ftp://127.0.0.1/jwks", "nonsense", "http://127.0.0.1:1/jwks", "http://"],
)
def test_a_bad_url_is_a_finding_not_a_crash(url: str) -> None:
    report = lint_url(url, timeout=TIMEOUT)
    assert report.codes - {"not-https"} == {"fetch-failed"}
    assert report.failed


def test_plain_http_off_loopback_is_still_named() -> None:
    report = lint_url("http://jwks.invalid/keys", timeout=TIMEOUT)
    assert report.codes == {"not-https", "fetch-failed"}
