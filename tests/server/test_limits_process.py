"""Slow and hostile clients against real ``keywell serve`` processes (issue 11 area 4, 5).

Every server binds port 0 and stops by itself; every loop is bounded; only
loopback is used. Latency is only ever asserted as a ratio of two phases
measured in the same run.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.procutil import Deployment, ServerProcess, log_lines, sqlite_deployment

pytestmark = [pytest.mark.slow]

JWKS = "/.well-known/jwks.json"

# A flood of distinct unknown admin tokens over one keep-alive connection, paced to
# ``rate`` requests per second for ``seconds``; prints {status: count} as JSON.
FLOOD = r"""
import json, re, secrets, socket, sys, time
port, rate, seconds = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
statuses, sock, i = {}, None, 0
start = time.monotonic()
while time.monotonic() - start < seconds:
    if sock is None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    token = "kwa_" + secrets.token_urlsafe(32)
    sock.sendall(("GET /admin/v1/keysets HTTP/1.1\r\nHost: flood\r\n"
                  "Authorization: Bearer " + token + "\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    if not head:
        sock.close(); sock = None; continue
    status = head.split(b" ", 2)[1].decode()
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    while len(body) < length:
        body += sock.recv(65536)
    statuses[status] = statuses.get(status, 0) + 1
    i += 1
    delay = start + i / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
print(json.dumps(statuses))
"""


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    with sqlite_deployment(tmp_path, "private-hs") as d:
        yield d


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def jwks_latencies(client: httpx.Client, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        r = client.get(JWKS)
        out.append(time.perf_counter() - started)
        assert r.status_code == 200
    return out


def test_the_jwks_answers_while_1100_slow_clients_hold_connections_and_they_are_dropped(
    deployment: Deployment, tmp_path: Path
) -> None:
    server = ServerProcess(deployment, tmp_path / "slow.log", extra=("--header-read-timeout", "10"))
    slow: list[socket.socket] = []
    try:
        with httpx.Client(base_url=server.base, timeout=10) as client:
            jwks_latencies(client, 50)  # warm up
            idle = jwks_latencies(client, 300)
            for _ in range(1100):  # the 1,100: each sends part of its headers, stalls
                s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
                s.sendall(b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: slow\r\nX-Slow: ")
                slow.append(s)
            held = jwks_latencies(client, 300)
            assert all(s.fileno() != -1 for s in slow)  # still held while we measured
        assert p99(held) <= 3 * p99(idle), (p99(idle), p99(held))
        # the server drops them once header_read_timeout passes (bounded wait, no speed)
        dropped = 0
        for s in slow:
            s.settimeout(40)
            try:
                data = s.recv(4096)
            except (ConnectionResetError, TimeoutError):
                data = b"timeout"
            dropped += data == b"" or data.startswith(b"HTTP/1.1 408")
        assert dropped == len(slow)
    finally:
        for s in slow:
            s.close()
        server.stop()


def test_a_flood_of_unknown_admin_tokens_is_throttled_and_the_jwks_p99_holds(
    deployment: Deployment, tmp_path: Path
) -> None:
    server = ServerProcess(deployment, tmp_path / "flood.log")
    try:
        with httpx.Client(base_url=server.base, timeout=10) as client:
            jwks_latencies(client, 50)
            idle = jwks_latencies(client, 400)
            flood = subprocess.Popen(
                [sys.executable, "-c", FLOOD, str(server.port), "1000", "6"],
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                time.sleep(0.5)  # let the flood reach its pace
                during = jwks_latencies(client, 400)
                # while the flood runs, this address is out of budget, valid token or not
                refused = client.get(
                    "/admin/v1/keysets", headers={"Authorization": f"Bearer {deployment.admin}"}
                )
                assert refused.status_code == 429
                assert int(refused.headers["retry-after"]) >= 1
                out, _ = flood.communicate(timeout=60)
            finally:
                if flood.poll() is None:
                    flood.kill()
                    flood.wait(timeout=10)
            statuses = json.loads(out)
            # the first failures reached the store; the rest were refused without it
            assert 0 < statuses["401"] <= 25
            assert statuses["429"] > 1000
            assert set(statuses) == {"401", "429"}
            # a throttled address can still read the public sets
            assert client.get(JWKS).status_code == 200
        assert p99(during) <= 3 * p99(idle), (p99(idle), p99(during))
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("method", "path", "needs_token", "expected"),
    [
        ("POST", "/admin/v1/keysets/default/tokens", True, 408),  # minting, outside FastAPI
        ("POST", "/admin/v1/keysets", True, 408),  # a FastAPI route
        ("PUT", "/admin/v1/keysets/default/policy", True, 408),
        ("POST", "/admin/v1/keysets", False, 401),  # refused before its body is read
    ],
)
@pytest.mark.parametrize("server_name", ["granian", "uvicorn"])
def test_a_slow_request_body_gets_408_under_every_server(
    deployment: Deployment,
    tmp_path: Path,
    server_name: str,
    method: str,
    path: str,
    needs_token: bool,
    expected: int,
) -> None:
    server = ServerProcess(
        deployment,
        tmp_path / "body.log",
        server=server_name,
        extra=("--body-read-timeout", "1"),
    )
    try:
        auth = f"Authorization: Bearer {deployment.admin}\r\n" if needs_token else ""
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
            s.sendall(
                f"{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                f'{auth}Content-Length: 1000\r\n\r\n{{"claims": '.encode()
            )
            data = b""
            while b"\r\n\r\n" not in data:  # bounded by the socket timeout
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        assert data.startswith(f"HTTP/1.1 {expected} ".encode()), data[:200]
        assert b"application/problem+json" in data
        assert server.http.get(JWKS).status_code == 200
    finally:
        server.stop()


def test_metrics_on_a_separate_address_name_no_hmac_set_and_the_public_port_needs_a_token(
    deployment: Deployment, tmp_path: Path
) -> None:
    server = ServerProcess(
        deployment, tmp_path / "m.log", extra=("--metrics-address", "127.0.0.1:0")
    )
    try:
        port = 0
        deadline = time.monotonic() + 30
        while not port and time.monotonic() < deadline:
            for line in log_lines(tmp_path / "m.log"):
                if line.get("message") == "metrics listening":
                    port = int(str(line["port"]))
            time.sleep(0.05)
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert scraped.status_code == 200
        assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert 'keywell_key_age_seconds{keyset="default"}' in scraped.text
        assert "private-hs" not in scraped.text
        assert httpx.get(f"http://127.0.0.1:{port}/other", timeout=10).status_code == 404
        public = server.http.get("/metrics")
        assert public.status_code == 401
        assert "private-hs" not in public.text
        assert public.headers["www-authenticate"].startswith("Bearer")
        with_token = server.http.get(
            "/metrics", headers={"Authorization": f"Bearer {deployment.admin}"}
        )
        assert with_token.status_code == 200
    finally:
        server.stop()
