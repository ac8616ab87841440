"""Linting a JWKS URL against a real loopback HTTP server that sends the headers under test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from keywell import JWK
from keywell.cli.app import app
from keywell.lint import lint_cache_headers, lint_url, parse_cache_control
from keywell.lint.http import MAX_BODY
from tests import loopback

GOOD_HEADERS = {
    "Cache-Control": "public, max-age=3600, stale-while-revalidate=60",
    "ETag": '"v1"',
    "Content-Type": "application/json",
}
PUBLIC_SET = json.dumps({"keys": [JWK.generate("ES256", kid="k1").to_dict()]}).encode()


@dataclass
class Answer:
    """What the server sends next."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: dict(GOOD_HEADERS))
    body: bytes = PUBLIC_SET
    requests: list[str] = field(default_factory=list)


class Server:
    """A loopback HTTP server whose answer each test sets."""

    def __init__(self) -> None:
        self.answer = Answer()
        answer_of = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                a = answer_of.answer
                a.requests.append(self.path)
                self.send_response(a.status)
                for name, value in a.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(a.body)))
                self.end_headers()
                self.wfile.write(a.body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/.well-known/jwks.json"

    def set(self, **changes: object) -> None:
        for name, value in changes.items():
            setattr(self.answer, name, value)


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    loopback.start(s.httpd)
    yield s
    loopback.stop(s.httpd)


def _without(name: str) -> dict[str, str]:
    return {k: v for k, v in GOOD_HEADERS.items() if k != name}


def test_well_served_set_is_clean(server: Server) -> None:
    report = lint_url(server.url)
    assert (report.findings, report.key_count) == ((), 1)
    assert server.answer.requests == ["/.well-known/jwks.json"]


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        (_without("Cache-Control"), "no-cache-control"),
        ({**GOOD_HEADERS, "Cache-Control": "no-store"}, "no-store"),
        ({**GOOD_HEADERS, "Cache-Control": "public, no-cache"}, "no-cache"),
        ({**GOOD_HEADERS, "Cache-Control": "public, max-age=60"}, "max-age-short"),
        ({**GOOD_HEADERS, "Cache-Control": "public, MAX-AGE=172800"}, "max-age-long"),
        ({**GOOD_HEADERS, "Cache-Control": "public"}, "no-max-age"),
        ({**GOOD_HEADERS, "Cache-Control": "max-age=soon"}, "bad-max-age"),
        (_without("ETag"), "no-etag"),
        ({**GOOD_HEADERS, "Content-Type": "text/html"}, "content-type"),
    ],
)
def test_caching_header_findings(server: Server, headers: dict[str, str], code: str) -> None:
    server.set(headers=headers)
    report = lint_url(server.url)
    assert report.codes == {code}
    (finding,) = report.findings
    assert finding.advice
    assert finding.index is None
    assert not report.failed


def test_bad_status_and_redirect(server: Server) -> None:
    server.set(status=404, body=b"nope")
    assert lint_url(server.url).codes == {"http-status"}
    server.set(status=302, headers={"Location": "https://elsewhere.example/jwks"}, body=b"")
    report = lint_url(server.url)
    assert report.failed
    assert "to https://elsewhere.example/jwks" in report.findings[0].message
    assert len(server.answer.requests) == 2  # the redirect was not followed


def test_body_findings_come_with_header_findings(server: Server) -> None:
    leaked = JWK.generate("ES256", kid="k1").to_dict(private=True)
    server.set(headers=_without("ETag"), body=json.dumps({"keys": [leaked]}).encode())
    report = lint_url(server.url)
    assert report.codes == {"private-members", "no-etag"}
    assert report.findings[0].code == "private-members"


def test_oversized_body(server: Server) -> None:
    server.set(body=b" " * (MAX_BODY + 10))
    assert lint_url(server.url).codes == {"too-large"}


def test_unreachable_server_is_a_finding() -> None:
    probe = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = probe.server_address[1]
    probe.server_close()
    report = lint_url(f"http://127.0.0.1:{port}/jwks.json", timeout=2)
    assert report.codes == {"fetch-failed"}
    assert report.failed


def test_cli_lint_url_text_and_exit_code(server: Server) -> None:
    server.set(headers={"Cache-Control": "max-age=30", "Content-Type": "application/json"})
    result = CliRunner().invoke(app, ["jwks", "lint", server.url])
    assert result.exit_code == 0
    assert "max-age=30 is under 300 seconds" in result.stdout
    assert "Clients will hammer the endpoint" in result.stdout
    assert "MEDIUM   max-age-short" in result.stdout
    assert "INFO     no-etag" in result.stdout
    server.set(body=b'{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}')
    result = CliRunner().invoke(app, ["jwks", "lint", server.url, "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["source"] == server.url
    assert {f["code"] for f in report["findings"]} >= {"symmetric-key", "max-age-short"}


def test_parse_cache_control() -> None:
    assert parse_cache_control('Public, Max-Age="600", no-transform') == {
        "public": None,
        "max-age": "600",
        "no-transform": None,
    }
    assert lint_cache_headers({"cache-control": "max-age=300", "etag": "x"})[0].code == (
        "content-type"
    )
    assert lint_cache_headers({**GOOD_HEADERS, "Cache-Control": "max-age=86400"}) == []
