"""A Transit that lies: an HTTP proxy in front of the real OpenBao rewriting its answers.

:class:`LyingTransit` forwards every request to the dev server and, while
:attr:`LyingTransit.lie` says so, rewrites the answer: ``"public"`` puts
another P-256 key's PEM in place of every key's version-1 public key (the
answer keeps its shape), ``"signature"`` flips one octet of every signature
(still ``vault:v1:`` base64url of 64 octets). The backend's shape checks pass;
only a signature checked against the published key catches the lie.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["LyingTransit"]

_OTHER_PEM = (
    ec.generate_private_key(ec.SECP256R1())
    .public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode("ascii")
)


def _rewrite(body: Any, lie: str) -> Any:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        return body
    if lie == "public" and isinstance(data.get("keys"), dict):
        for version in data["keys"].values():
            if isinstance(version, dict) and "public_key" in version:
                version["public_key"] = _OTHER_PEM
    if lie == "signature" and isinstance(data.get("signature"), str):
        head, _, text = data["signature"].rpartition(":")
        raw = bytearray(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        raw[-1] ^= 0x01
        data["signature"] = f"{head}:{base64.urlsafe_b64encode(bytes(raw)).decode().rstrip('=')}"
    return body


class LyingTransit:
    """A loopback HTTP proxy to ``upstream`` (``http://127.0.0.1:PORT``); ``port`` is its own."""

    def __init__(self, upstream: str) -> None:
        self.lie: str | None = None
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                sent = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                answer = requests.request(
                    self.command, upstream + self.path, data=sent, headers=headers, timeout=30
                )
                body = answer.content
                lie = owner.lie
                if lie and body:
                    body = json.dumps(_rewrite(answer.json(), lie)).encode()
                self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_LIST = _forward

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
