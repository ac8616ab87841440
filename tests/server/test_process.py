"""Real server processes on loopback against PostgreSQL: minting, replicas, HTTP semantics, SIGTERM.

Each test session gets a fresh PostgreSQL database (dropped at the end); the
servers are started as ``python -m keywell.cli.server_cmds serve`` with the
KEK in the environment, exactly as an operator would run them.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from keywell import JWKSet, Verifier
from keywell.issuer import Issuer
from keywell.store.kek import KEKRing

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
ISSUER = "https://issuer.e2e.test"


@dataclass
class Deployment:
    url: str
    env: dict[str, str]
    admin: str


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    name = f"keywell_server_{secrets.token_hex(4)}"
    try:
        admin_conn = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is required: {exc}")
        pytest.skip(f"no PostgreSQL at 127.0.0.1:5432: {exc}")
    with admin_conn:
        admin_conn.execute(f'CREATE DATABASE "{name}"')
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        kek = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
        env = {**os.environ, "KEYWELL_KEK": kek, "KEYWELL_DATABASE_URL": url}
        env.pop("KEYWELL_KEK_FILE", None)
        issuer = Issuer(url, keks=KEKRing.from_env(env), auto_upgrade=True)
        try:
            issuer.create_keyset("default", issuer=ISSUER)
            secret = issuer.create_admin_token(["admin"], name="e2e")
        finally:
            issuer.close()
        try:
            yield Deployment(url=url, env=env, admin=secret)
        finally:
            admin_conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    def __init__(self, deployment: Deployment, log: Path, *, server: str = "granian") -> None:
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
                deployment.url,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-json",
                "--server",
                server,
            ],
            env=deployment.env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )
        self.http = httpx.Client(base_url=self.base, timeout=10)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {log.read_text()}")
            try:
                if self.http.get("/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready: {log.read_text()}")
            time.sleep(0.05)

    def stop(self) -> int:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        finally:
            self._out.close()


@pytest.fixture
def replicas(deployment: Deployment, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    try:
        started.append(ServerProcess(deployment, tmp_path / "a.log"))
        started.append(ServerProcess(deployment, tmp_path / "b.log"))
        yield started
    finally:
        for server in started:
            server.stop()


def served_kids(server: ServerProcess) -> set[str]:
    r = server.http.get("/.well-known/jwks.json")
    assert r.status_code == 200
    return {k.kid for k in JWKSet.from_json(r.content) if k.kid}


def test_mint_over_http_and_verify_against_the_served_jwks(
    replicas: list[ServerProcess], deployment: Deployment
) -> None:
    a, b = replicas
    r = a.http.post(
        "/admin/v1/keysets/default/tokens",
        json={"claims": {"sub": "svc-1", "aud": "orders"}, "ttl": 60},
        headers={"Authorization": f"Bearer {deployment.admin}"},
    )
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    for server in (a, b):
        jwks = JWKSet.from_json(server.http.get("/.well-known/jwks.json").content)
        claims = Verifier(jwks, issuer=ISSUER, audience="orders").verify(token)
        assert claims["sub"] == "svc-1"
    discovery = a.http.get("/keysets/default/.well-known/openid-configuration").json()
    assert discovery["issuer"] == ISSUER
    assert discovery["jwks_uri"] == f"{a.base}/.well-known/jwks.json"


def test_replicas_agree_on_bytes_and_etag_and_answer_304_and_head(
    replicas: list[ServerProcess],
) -> None:
    a, b = replicas
    ra, rb = a.http.get("/.well-known/jwks.json"), b.http.get("/.well-known/jwks.json")
    assert ra.content == rb.content
    assert ra.headers["etag"] == rb.headers["etag"]
    assert ra.headers["cache-control"] == rb.headers["cache-control"]
    assert ra.headers["cache-control"].startswith("public, max-age=3600,")
    nm = b.http.get("/.well-known/jwks.json", headers={"If-None-Match": ra.headers["etag"]})
    assert nm.status_code == 304
    assert nm.content == b""
    head = a.http.head("/.well-known/jwks.json")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(ra.content))


def test_a_rotation_through_one_replica_is_served_by_the_other_within_a_second(
    replicas: list[ServerProcess], deployment: Deployment
) -> None:
    a, b = replicas
    before = b.http.get("/.well-known/jwks.json").headers["etag"]
    r = a.http.post(
        "/admin/v1/keysets/default/rotate",
        json={"emergency": True},
        headers={"Authorization": f"Bearer {deployment.admin}"},
    )
    assert r.status_code == 200, r.text
    new_kid = r.json()["active_kid"]
    rotated_at = time.monotonic()
    assert new_kid in served_kids(a)  # the replica that rotated serves it at once
    seen_after: float | None = None
    while time.monotonic() - rotated_at < 1.0:
        if new_kid in served_kids(b):
            seen_after = time.monotonic() - rotated_at
            break
        time.sleep(0.02)
    assert seen_after is not None, "replica B did not serve the new key within 1 second"
    after_a = a.http.get("/.well-known/jwks.json")
    after_b = b.http.get("/.well-known/jwks.json", headers={"If-None-Match": before})
    assert after_b.status_code == 200
    assert after_b.headers["etag"] == after_a.headers["etag"] != before


def children(pid: int) -> list[int]:
    """The pids whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited meanwhile
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie serves nothing: it only waits to be reaped


@pytest.mark.parametrize("server_name", ["granian", "uvicorn"])
def test_sigterm_shuts_down_gracefully(
    deployment: Deployment, tmp_path: Path, server_name: str
) -> None:
    server = ServerProcess(deployment, tmp_path / "c.log", server=server_name)
    minted = server.http.post(
        "/admin/v1/keysets/default/tokens",
        json={"claims": {"sub": "svc"}},
        headers={"Authorization": f"Bearer {deployment.admin}"},
    )
    assert minted.status_code == 201
    workers = children(server.proc.pid)
    assert len(workers) == (1 if server_name == "granian" else 0)
    code = server.stop()
    assert code in (0, -signal.SIGTERM)
    assert not any(alive(pid) for pid in workers)
    log = (tmp_path / "c.log").read_text()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    messages = [line["message"] for line in lines]
    assert "keywell server ready" in messages
    assert "keywell server stopped" in messages
    assert len(lines) == len(log.splitlines())  # every line structured, the server's too
    assert deployment.admin not in log
    assert minted.json()["token"] not in log
    assert "kwa_" not in log


def test_a_sigkill_of_the_granian_main_process_leaves_no_worker_serving(
    deployment: Deployment, tmp_path: Path
) -> None:
    server = ServerProcess(deployment, tmp_path / "k.log")
    (worker,) = children(server.proc.pid)
    assert server.http.get("/healthz").status_code == 200
    server.proc.kill()
    server.proc.wait(timeout=10)
    deadline = time.monotonic() + 20  # bounds a hung test; no speed is asserted
    while alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(worker)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.base}/healthz", timeout=2)
    server.stop()
    assert "keywell server stopped" in (tmp_path / "k.log").read_text()  # it shut down cleanly
