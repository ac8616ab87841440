"""Real server processes on loopback against PostgreSQL: minting, replicas, HTTP semantics, SIGTERM.

Each test module gets a fresh PostgreSQL database (dropped at the end); the
servers are started as ``python -m keywell.cli.server_cmds serve --port 0``
with the KEK in the environment, exactly as an operator would run them, and
the bound port is read from the ``listening`` log line (no free-port race).
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from keywell import JWKSet, Verifier
from tests.server.procutil import (
    ISSUER,
    Deployment,
    ServerProcess,
    postgres_deployment,
    serve_command,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    with postgres_deployment() as d:
        yield d


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
    discovery = a.http.get("/.well-known/openid-configuration").json()
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


@pytest.mark.parametrize("first_server", ["granian", "uvicorn"])
@pytest.mark.parametrize("second_server", ["granian", "uvicorn"])
def test_a_second_server_on_a_busy_port_fails_to_start_and_the_first_keeps_serving(
    deployment: Deployment, tmp_path: Path, first_server: str, second_server: str
) -> None:
    first = ServerProcess(deployment, tmp_path / "first.log", server=first_server)
    try:
        before = first.http.get("/.well-known/jwks.json")
        assert before.status_code == 200
        # the second server has a store of its own (another set entirely)
        env = {**deployment.env, "KEYWELL_AUTO_UPGRADE": "1"}
        second = subprocess.run(
            [
                *serve_command(deployment, "--port", str(first.port), "--server", second_server),
                "--database",
                f"sqlite:///{tmp_path / 'other.db'}",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2, second.stdout + second.stderr
        assert f"address 127.0.0.1:{first.port} is already in use" in second.stderr
        for _ in range(20):  # every answer still comes from the first server's one set
            again = first.http.get("/.well-known/jwks.json")
            assert again.status_code == 200
            assert again.headers["etag"] == before.headers["etag"]
    finally:
        assert first.stop() in (0, -signal.SIGTERM)


def test_granian_listens_on_one_socket_without_so_reuseport(
    deployment: Deployment, tmp_path: Path
) -> None:
    """Workers share the main process's socket; no other process can bind beside it."""
    import socket

    server = ServerProcess(deployment, tmp_path / "g.log", extra=("--workers", "2"))
    try:
        intruder = socket.socket()
        intruder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        with intruder, pytest.raises(OSError, match="in use"):
            intruder.bind(("127.0.0.1", server.port))
        assert server.http.get("/healthz").status_code == 200
    finally:
        server.stop()


def test_an_admin_token_revoked_on_one_replica_is_refused_by_the_other_within_max_staleness(
    replicas: list[ServerProcess], deployment: Deployment
) -> None:
    from keywell.issuer import Issuer
    from keywell.store.kek import KEKRing

    a, b = replicas
    issuer = Issuer(deployment.url, keks=KEKRing.from_env(deployment.env))
    try:
        secret = issuer.create_admin_token(["read"], name="short-lived")
        headers = {"Authorization": f"Bearer {secret}"}
        assert b.http.get("/admin/v1/keysets", headers=headers).status_code == 200  # B caches it
        assert a.http.get("/admin/v1/keysets", headers=headers).status_code == 200
        issuer.revoke_admin_token("short-lived")
    finally:
        issuer.close()
    revoked_at = time.monotonic()
    statuses = []
    while time.monotonic() - revoked_at < 1.0:  # bounded; B's cache entry predates the revoke
        sent = time.monotonic() - revoked_at
        statuses.append((sent, b.http.get("/admin/v1/keysets", headers=headers).status_code))
    # the default auth_cache_ttl is max_staleness, 0.25 s: a request sent later meets the store
    late = [at for at, status in statuses if status == 200 and at > 0.25]
    assert not late, f"accepted {late} s after revocation"
    assert statuses[-1][1] == 401
