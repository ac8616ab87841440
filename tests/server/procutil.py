"""Real ``keywell serve`` processes for tests: started on ``--port 0``, port read from the log.

The server binds port 0 itself and names the bound port in its JSON
``listening`` line, so no test races another process for a "free" port.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from keywell.issuer import Issuer
from keywell.store.kek import KEKRing
from tests.store.pgutil import fresh_database

ISSUER = "https://issuer.e2e.test"


@dataclass
class Deployment:
    """A store with a ``default`` set, the environment to serve it, and an ``admin`` token."""

    url: str
    env: dict[str, str]
    admin: str


@contextmanager
def postgres_deployment() -> Iterator[Deployment]:
    """A fresh PostgreSQL database holding the ``default`` set and an admin token."""
    with fresh_database() as url:
        kek = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
        env = {**os.environ, "KEYWELL_KEK": kek, "KEYWELL_DATABASE_URL": url}
        env.pop("KEYWELL_KEK_FILE", None)
        issuer = Issuer(url, keks=KEKRing.from_env(env), auto_upgrade=True)
        try:
            issuer.create_keyset("default", issuer=ISSUER)
            secret = issuer.create_admin_token(["admin"], name="e2e")
        finally:
            issuer.close()
        yield Deployment(url=url, env=env, admin=secret)


def log_lines(log: Path) -> list[dict[str, object]]:
    """The JSON lines of a server log written so far."""
    out = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # a line still being written
    return out


def serve_command(deployment: Deployment, *args: str) -> list[str]:
    """The argv of ``keywell serve`` for ``deployment`` with JSON logs, plus ``args``."""
    return [
        sys.executable,
        "-m",
        "keywell.cli.server_cmds",
        "serve",
        "--database",
        deployment.url,
        "--host",
        "127.0.0.1",
        "--log-json",
        *args,
    ]


class ServerProcess:
    """``keywell serve --port 0`` (unless ``port`` is given), ready once ``/readyz`` says 200."""

    def __init__(
        self,
        deployment: Deployment,
        log: Path,
        *,
        server: str = "granian",
        port: int = 0,
        extra: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.log = log
        self._out = log.open("wb")
        argv = serve_command(deployment, "--port", str(port), "--server", server, *extra)
        self.proc = subprocess.Popen(
            argv,
            env=env or deployment.env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30  # bounds a hung start; no speed is asserted
        self.port = 0
        while not self.port:
            self._check(deadline)
            for line in log_lines(log):
                if line.get("message") == "listening":
                    self.port = int(str(line["port"]))
            time.sleep(0.05)
        self.base = f"http://127.0.0.1:{self.port}"
        self.http = httpx.Client(base_url=self.base, timeout=10)
        while True:
            self._check(deadline)
            try:
                if self.http.get("/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.05)

    def _check(self, deadline: float) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"server exited: {self.log.read_text()}")
        if time.monotonic() > deadline:
            self.stop()
            raise RuntimeError(f"server not ready: {self.log.read_text()}")

    def stop(self) -> int:
        """SIGTERM, then wait (bounded) for the exit status."""
        if hasattr(self, "http"):
            self.http.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(timeout=10)
        finally:
            self._out.close()


@contextmanager
def sqlite_deployment(directory: Path, *hmac_sets: str) -> Iterator[Deployment]:
    """A SQLite store in ``directory``: the ``default`` set, ``hmac_sets``, an admin token."""
    url = f"sqlite:///{directory / 'keywell.db'}"
    kek = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    env = {**os.environ, "KEYWELL_KEK": kek, "KEYWELL_DATABASE_URL": url}
    env.pop("KEYWELL_KEK_FILE", None)
    issuer = Issuer(url, keks=KEKRing.from_env(env), auto_upgrade=True)
    try:
        issuer.create_keyset("default", issuer=ISSUER)
        for name in hmac_sets:
            issuer.create_keyset(name, issuer=ISSUER, alg="HS256")
        secret = issuer.create_admin_token(["admin"], name="e2e")
    finally:
        issuer.close()
    yield Deployment(url=url, env=env, admin=secret)
