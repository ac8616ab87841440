"""A real loopback HTTP server whose answers each test controls (JWKS, discovery, faults)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from keywell import JWK, jwt
from tests import loopback


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    gate: threading.Event | None = None
    etag: str | None = None
    last_modified: str | None = None
    drop: bool = False
    repeat_body: int = 1


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        srv = self.server.owner
        path = self.path.split("?")[0]
        with srv.lock:
            srv.requests.append((path, dict(self.headers.items())))
            reply = srv.routes.get(path)
        if reply is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if reply.gate is not None:
            reply.gate.wait(30)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.drop:
            self.close_connection = True
            return
        status, body = reply.status, reply.body * reply.repeat_body
        if (reply.etag is not None and self.headers.get("If-None-Match") == reply.etag) or (
            reply.last_modified is not None
            and self.headers.get("If-Modified-Since") == reply.last_modified
        ):
            status, body = 304, b""
        try:
            self.send_response_only(status)
            headers = {
                "Content-Type": "application/json",
                "Date": self.date_time_string(),
                **reply.headers,
            }
            if reply.etag is not None:
                headers["ETag"] = reply.etag
            if reply.last_modified is not None:
                headers["Last-Modified"] = reply.last_modified
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for i in range(0, len(body), 65536):
                self.wfile.write(body[i : i + 65536])
        except (BrokenPipeError, ConnectionResetError):
            return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: JWKSServer


class JWKSServer:
    """Serve controlled replies on 127.0.0.1; count and record every request."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.routes: dict[str, Reply] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.port = self._httpd.server_address[1]
        self._thread = loopback.start(self._httpd)
        self.running = True

    def url(self, path: str = "/jwks") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def set(self, path: str = "/jwks", **kwargs: Any) -> Reply:
        doc = kwargs.pop("jwks", None)
        if doc is not None:
            kwargs["body"] = json.dumps(doc).encode()
        reply = Reply(**kwargs)
        with self.lock:
            self.routes[path] = reply
        return reply

    def hits(self, path: str = "/jwks") -> int:
        with self.lock:
            return sum(1 for p, _ in self.requests if p == path)

    def last_headers(self, path: str = "/jwks") -> dict[str, str]:
        with self.lock:
            return [h for p, h in self.requests if p == path][-1]

    def stop(self) -> None:
        if self.running:
            self.running = False
            loopback.stop(self._httpd)


class Clock:
    """A frozen clock the test advances."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def jwks(*keys: JWK) -> dict[str, Any]:
    return {"keys": [k.to_dict() for k in keys]}


def token(
    key: JWK, iss: str = "https://issuer.example", *, no_kid: bool = False, **extra: Any
) -> str:
    claims = {"iss": iss, "aud": "api", "sub": "alice", "exp": int(time.time()) + 600, **extra}
    return jwt.encode(claims, key, headers={"kid": None} if no_kid else None)
