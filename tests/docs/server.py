"""A real `keywell serve` on a free port, for the docs pages and the examples.

Registered for the whole suite by ``tests/conftest.py`` (``pytest_plugins``).
"""

from __future__ import annotations

import base64
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class DocsServer:
    """A running ``keywell serve``: its base URL and the environment the examples get."""

    base: str
    env: dict[str, str]

    def mint(self, claims: dict[str, object], ttl: int = 300) -> str:
        """A token signed by the server's ``default`` set, through its admin API."""
        answer = httpx.post(
            f"{self.base}/admin/v1/keysets/default/tokens",
            json={"claims": claims, "ttl": ttl},
            headers={"Authorization": f"Bearer {self.env['KEYWELL_TOKEN']}"},
        )
        assert answer.status_code in (200, 201), answer.text
        return str(answer.json()["token"])


def free_port() -> int:
    """A port free on loopback now (the server binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def example_env(workdir: Path) -> dict[str, str]:
    """The environment every example runs in: our venv first on PATH, a KEK file (``kek-1``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEYWELL_", "PYTEST_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(workdir)
    kek = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    kek_file = workdir / "keks"
    if not kek_file.exists():
        kek_file.write_text(f"kek-1:{kek}\n")
        kek_file.chmod(0o600)
    env["KEYWELL_KEK_FILE"] = str(kek_file)
    return env


@pytest.fixture(scope="session")
def docs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DocsServer]:
    """``keywell serve`` on a free loopback port with a ``default`` ES256 set and an admin token."""
    from keywell.issuer import Issuer
    from keywell.store.kek import KEKRing

    workdir = tmp_path_factory.mktemp("docs-server")
    env = example_env(workdir)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    database = f"sqlite:///{workdir / 'keywell.db'}"
    keks = KEKRing.from_env(env)
    issuer = Issuer(database, keks=keks, auto_upgrade=True)
    issuer.create_keyset("default", issuer=base, alg="ES256")
    token = issuer.create_admin_token(
        ["read", "sign", "rotate", "revoke", "admin"], name="docs", actor="tests"
    )
    issuer.close()
    server_env = {**env, "KEYWELL_DATABASE_URL": database}
    command = [str(BIN / "keywell"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--public-url", base]
    log = (workdir / "server.log").open("wb")
    proc = subprocess.Popen(
        command, cwd=workdir, env=server_env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        for _ in range(300):  # bounded: up to about 30 s for a cold start on a busy machine
            if proc.poll() is not None:
                break
            try:
                if httpx.get(f"{base}/readyz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        if proc.poll() is not None or httpx.get(f"{base}/readyz").status_code != 200:
            log.flush()
            pytest.fail("keywell serve did not start:\n" + (workdir / "server.log").read_text())
        yield DocsServer(base, {**env, "KEYWELL_TOKEN": token})
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
