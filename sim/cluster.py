"""The deployment under test: one PostgreSQL database, 3 `keywell serve` replicas, HAProxy.

Everything runs as child processes of the simulation (no systemd): the replicas
are started exactly as an operator would (`keywell serve --database URL --host
--port`, KEK and timings in ``KEYWELL_*`` variables), HAProxy in the foreground
with a generated configuration.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
ROOT = Path(__file__).resolve().parent.parent
KEYWELL_BIN = ROOT / ".venv" / "bin" / "keywell"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Database:
    """A fresh database ``keywell_sim_<random>``, dropped by :meth:`drop`."""

    def __init__(self) -> None:
        self.name = f"keywell_sim_{secrets.token_hex(4)}"
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.name}"
        self.dsn = f"postgresql://postgres@127.0.0.1:5432/{self.name}"

    def terminate_backends(self) -> int:
        """``pg_terminate_backend`` every connection to this database but our own."""
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.name,),
            ).fetchall()
        return sum(1 for (ok,) in rows if ok)

    def drop(self) -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def new_kek() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


@dataclass
class Replica:
    """One `keywell serve` process on its own loopback port.

    Under granian the process that serves is a worker child of the one started
    here, so each replica gets its own process group (session) and faults
    (SIGKILL, SIGSTOP, SIGCONT) go to the whole group, as a crash or a frozen
    host would hit both; SIGTERM goes to the main process, which stops its
    workers gracefully.
    """

    name: str
    port: int
    env: dict[str, str]
    database_url: str
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(  # noqa: S603 - our own binaries, fixed arguments
            [
                str(KEYWELL_BIN),
                "serve",
                "--database",
                self.database_url,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-json",
            ],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        self.starts += 1

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2) as http:
            while True:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited; see {self.log}")
                try:
                    if http.get(f"http://127.0.0.1:{self.port}/readyz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} not ready; see {self.log}")
                time.sleep(0.05)

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the replica's process group (its main process and workers)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)  # the group lives while its leader is unreaped

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.signal(signal.SIGCONT)  # in case it was left stopped
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait(timeout=5)


HAPROXY_CFG = """\
global
    maxconn 4096

defaults
    mode http
    timeout connect 250ms
    timeout client 30s
    timeout server 1s
    timeout check 250ms
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout 502 503 504

frontend keywell
    bind 127.0.0.1:{port}
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET /readyz
    http-response set-header X-Served-By %[srv_name]
    default-server inter 200ms fastinter 100ms downinter 200ms fall 2 rise 2
{servers}
"""


@dataclass
class HAProxy:
    """HAProxy in the foreground (``-db``) with health-checked replicas."""

    port: int
    replicas: list[Replica]
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        servers = "\n".join(f"    server {r.name} 127.0.0.1:{r.port} check" for r in self.replicas)
        cfg = self.workdir / "haproxy.cfg"
        cfg.write_text(HAPROXY_CFG.format(port=self.port, servers=servers))
        out = (self.workdir / "haproxy.log").open("ab")
        self.proc = subprocess.Popen(  # noqa: S603 - our own binaries, fixed arguments
            [binary, "-db", "-f", str(cfg)], stdout=out, stderr=subprocess.STDOUT
        )
        out.close()
        deadline = time.monotonic() + 10
        with httpx.Client(timeout=2) as http:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"haproxy exited; see {self.workdir / 'haproxy.log'}")
                try:
                    if http.get(f"{self.url}/readyz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("haproxy not serving")
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@dataclass
class Cluster:
    """The database, the replicas and the load balancer of one run."""

    workdir: Path
    tick_interval: float = 0.2
    poll_interval: float = 0.1
    max_staleness: float = 0.25
    db: Database = field(init=False)
    kek: str = field(init=False)
    replicas: list[Replica] = field(init=False, default_factory=list)
    haproxy: HAProxy = field(init=False)

    def __post_init__(self) -> None:
        self.db = Database()
        self.kek = new_kek()

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEYWELL_")}
        env.update(
            KEYWELL_KEK=self.kek,
            KEYWELL_TICK_INTERVAL=str(self.tick_interval),
            KEYWELL_POLL_INTERVAL=str(self.poll_interval),
            KEYWELL_MAX_STALENESS=str(self.max_staleness),
            KEYWELL_LOG_LEVEL="WARNING",
        )
        return env

    def start(self, count: int = 3) -> None:
        from keywell.issuer import Issuer
        from keywell.store.kek import KEKRing

        issuer = Issuer(
            self.db.url, keks=KEKRing.from_env({"KEYWELL_KEK": self.kek}), auto_upgrade=True
        )
        try:
            self.admin_secret = issuer.create_admin_token(
                ["read", "sign", "revoke", "admin"], name="sim", actor="sim"
            )
        finally:
            issuer.close()
        for i in range(count):
            replica = Replica(
                name=f"r{i + 1}",
                port=free_port(),
                env=self.env,
                database_url=self.db.url,
                log=self.workdir / f"replica-r{i + 1}.log",
            )
            replica.start()
            self.replicas.append(replica)
        for replica in self.replicas:
            replica.wait_ready()
        self.haproxy = HAProxy(free_port(), self.replicas, self.workdir)
        self.haproxy.start()

    def close(self) -> None:
        for replica in self.replicas:
            replica.stop()
        if getattr(self, "haproxy", None) is not None:
            self.haproxy.stop()
        self.db.drop()
