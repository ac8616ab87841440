"""``max_body_bytes`` holds on the bytes received, whatever the protocol or framing.

Issue 11 area 2: over HTTP/2 cleartext a 200 MB mint body streamed without
Content-Length was read whole (201, a 280 MB token, a 1.47 GB worker). Every
route behind the fast path is tried here against a real ``keywell serve``
(granian, which accepts h2c with prior knowledge) with HTTP/1.1 Content-Length,
HTTP/1.1 chunked and HTTP/2 DATA frames with no content-length; each gets the
413 problem, and the server stops reading (the h2c sender is left holding most
of its body). Bodies under the limit still work in every framing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.h2c import h2c_request
from tests.server.serve_process import Served

pytestmark = pytest.mark.slow

LIMIT = 64 * 1024  # ServerConfig's default max_body_bytes
JSON = {"content-type": "application/json"}
# (method, path, scope): the raw-ASGI mint path, the framework's JSON routes,
# a body-less route and a path no route serves: every one is bounded.
ROUTES = [
    ("POST", "/admin/v1/keysets/default/tokens", "sign"),
    ("POST", "/admin/v1/keysets", "admin"),
    ("PUT", "/admin/v1/keysets/default/policy", "admin"),
    ("POST", "/admin/v1/keysets/default/rotate", "rotate"),
    ("POST", "/admin/v1/keysets/default/keys/some-kid/revoke", "revoke"),
    ("POST", "/admin/v1/no-such-route", "admin"),
    ("POST", "/healthz", "admin"),
]
IDS = [f"{m} {p}" for m, p, _ in ROUTES]


def _start(tmp: Path, server: str) -> Served:
    return Served(f"sqlite:///{tmp / 'kw.db'}", tmp / "server.log", server=server)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """granian (the default server, which speaks h2c)."""
    server = _start(tmp_path_factory.mktemp("granian"), "granian")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module", params=["granian", "uvicorn"])
def h1_served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """Each selectable server, for the HTTP/1.1 framings."""
    if request.param == "granian":
        yield request.getfixturevalue("served")
        return
    server = _start(tmp_path_factory.mktemp("uvicorn"), "uvicorn")
    try:
        yield server
    finally:
        server.stop()


def _stream(total: int, chunk: int = 16384) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b"x" * min(chunk, total - sent)
        sent += chunk


def _assert_too_large(status: int, content_type: str, doc: object) -> None:
    assert status == 413
    assert content_type == "application/problem+json"
    assert isinstance(doc, dict)
    assert doc["type"] == "urn:keywell:problem:body_too_large"
    assert doc["code"] == "KW_BODY_TOO_LARGE"


@pytest.mark.parametrize(("method", "path", "scope"), ROUTES, ids=IDS)
def test_h1_content_length_over_the_limit_is_413(
    h1_served: Served, method: str, path: str, scope: str
) -> None:
    served = h1_served
    with httpx.Client(base_url=served.base, timeout=10) as client:
        r = client.request(
            method, path, content=b"x" * (LIMIT + 1), headers={**served.auth(scope), **JSON}
        )
    _assert_too_large(r.status_code, r.headers["content-type"], r.json())


@pytest.mark.parametrize(("method", "path", "scope"), ROUTES, ids=IDS)
def test_h1_chunked_over_the_limit_is_413(
    h1_served: Served, method: str, path: str, scope: str
) -> None:
    served = h1_served
    with httpx.Client(base_url=served.base, timeout=10) as client:
        r = client.request(
            method, path, content=_stream(4 * 1024 * 1024), headers={**served.auth(scope), **JSON}
        )
    assert "content-length" not in r.request.headers
    assert r.request.headers["transfer-encoding"] == "chunked"
    _assert_too_large(r.status_code, r.headers["content-type"], r.json())


@pytest.mark.parametrize(("method", "path", "scope"), ROUTES, ids=IDS)
def test_h2c_stream_without_length_over_the_limit_is_413(
    served: Served, method: str, path: str, scope: str
) -> None:
    total = 200 * 1024 * 1024
    r = h2c_request(served.port, method, path, {**served.auth(scope), **JSON}, total)
    _assert_too_large(r.status, r.headers["content-type"], r.json())
    assert r.sent < total // 10  # the server stopped reading: flow control held the rest


def test_h2c_and_chunked_bodies_under_the_limit_mint(served: Served) -> None:
    body = b'{"claims": {"sub": "svc-1", "pad": "' + b"y" * 8000 + b'"}, "ttl": 60}'
    with httpx.Client(base_url=served.base, timeout=10) as client:
        chunked = client.post(
            "/admin/v1/keysets/default/tokens",
            content=iter([body[:1000], body[1000:]]),
            headers={**served.auth("sign"), **JSON},
        )
    assert chunked.status_code == 201, chunked.text
    with httpx.Client(base_url=served.base, timeout=10, http1=False, http2=True) as client:
        h2 = client.post(
            "/admin/v1/keysets/default/tokens",
            content=iter([body[:1000], body[1000:]]),
            headers={**served.auth("sign"), **JSON},
        )
    assert h2.http_version == "HTTP/2"
    assert "content-length" not in h2.request.headers
    assert h2.status_code == 201, h2.text
    assert len(h2.json()["token"]) > 8000


def test_the_server_is_healthy_after_the_oversized_bodies(served: Served) -> None:
    with httpx.Client(base_url=served.base, timeout=10, http1=False, http2=True) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/.well-known/jwks.json").status_code == 200
    assert "Traceback" not in served.log.read_text()


def test_public_paths_answer_405_without_reading_a_streamed_body(served: Served) -> None:
    total = 200 * 1024 * 1024
    for path in ("/.well-known/jwks.json", "/keysets/default/jwks.json"):
        r = h2c_request(served.port, "POST", path, JSON, total)
        assert r.status == 405
        assert r.headers["allow"] == "GET, HEAD, OPTIONS"
        assert r.sent < total // 10
