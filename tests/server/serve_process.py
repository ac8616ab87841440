"""A real ``keywell serve`` process on a free loopback port, for protocol-level tests.

The database (SQLite file or PostgreSQL URL) is prepared through the library
first (a ``default`` set and an admin token per scope); the server is started
as an operator would (``python -m keywell.cli.server_cmds serve``, KEK in the
environment) and stopped with SIGTERM. Its log (JSON lines) is kept in a file
the tests read.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from keywell.issuer import Issuer
from keywell.store.kek import KEKRing

ISSUER = "https://issuer.serve.test"
SCOPES = ("read", "sign", "rotate", "revoke", "admin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """One server process; ``tokens`` maps each scope to an admin token."""

    def __init__(self, database_url: str, log: Path, *, server: str = "granian") -> None:
        kek = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
        self.env = {**os.environ, "KEYWELL_KEK": kek, "KEYWELL_DATABASE_URL": database_url}
        self.env.pop("KEYWELL_KEK_FILE", None)
        issuer = Issuer(database_url, keks=KEKRing.from_env(self.env), auto_upgrade=True)
        try:
            issuer.create_keyset("default", issuer=ISSUER)
            self.kid = issuer.keys("default")[0].kid
            self.tokens = {s: issuer.create_admin_token([s], name=f"serve-{s}") for s in SCOPES}
        finally:
            issuer.close()
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._out = log.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "keywell.cli.server_cmds",
                "serve",
                "--database",
                database_url,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-json",
                "--server",
                server,
            ],
            env=self.env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        with httpx.Client(base_url=self.base, timeout=5) as probe:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited: {log.read_text()}")
                try:
                    if probe.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"server not ready: {log.read_text()}")
                time.sleep(0.05)

    def auth(self, scope: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[scope]}"}

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        finally:
            self._out.close()
