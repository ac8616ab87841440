"""Custody backends on loopback, started here for the tests and the benchmarks alike.

- :class:`Proxy`: a TCP relay in front of a backend that can refuse
  connections (:meth:`Proxy.down`) or accept and never answer
  (:meth:`Proxy.stall`), so "unreachable" and "slow" are real network states.
- :class:`MotoKMS`: ``moto_server`` (AWS KMS in moto's server mode) on a free
  loopback port with IAM enforced: in each of a few accounts a user allowed
  ``kms:*`` (profiles ``keywell-0`` ...), a user allowed nothing (profile
  ``keywell-denied``: moto answers ``AccessDenied``) and access keys moto never
  issued (profile ``keywell-wrong``: ``InvalidClientTokenId``), and one allowed
  all but ``kms:GetPublicKey`` (``keywell-no-public``). Moto accepts
  any credential until IAM is enforced (``/moto-api/reset-auth``), so this is
  how a refused credential is real here.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[2]
ACCOUNT_BASE = 100000000000  # moto account IDs handed out: ACCOUNT_BASE + i
START_TIMEOUT = 30.0  # seconds for a server to answer after its start


def free_port() -> int:
    """A TCP port free on loopback right now (the OS's pick)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = START_TIMEOUT) -> None:
    """Return once ``url`` answers; raise if ``process`` exits or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - a loopback http URL
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"no answer from {url} within {timeout} s")


class Proxy:
    """A TCP relay ``127.0.0.1:port`` -> ``upstream``; modes ``pass``, ``down``, ``stall``."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.mode = "pass"
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._listener = self._listen(0)
        self.port = int(self._listener.getsockname()[1])
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @staticmethod
    def _listen(port: int) -> socket.socket:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
        sock.listen(64)
        sock.settimeout(0.05)
        return sock

    def _accept(self) -> None:
        while not self._closed:
            listener = self._listener
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                time.sleep(0.01)  # the listener is closed while down
                continue
            conn.settimeout(None)
            self._track(conn)
            if self.mode == "stall":
                continue  # held open, never answered, closed when the stall ends
            threading.Thread(target=self._relay, args=(conn,), daemon=True).start()

    def _track(self, *socks: socket.socket) -> None:
        with self._lock:
            self._open.update(socks)

    def _relay(self, conn: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            conn.close()
            return
        upstream.settimeout(None)
        self._track(upstream)
        threading.Thread(target=self._pump, args=(upstream, conn), daemon=True).start()
        self._pump(conn, upstream)

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _cut(self) -> None:
        with self._lock:
            found, self._open = self._open, set()
        for sock in found:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """While inside: connections are refused (nothing listens on the port)."""
        self.mode = "down"
        self._listener.close()
        self._cut()
        try:
            yield
        finally:
            self._listener = self._listen(self.port)
            self.mode = "pass"

    @contextlib.contextmanager
    def stall(self) -> Iterator[None]:
        """While inside: connections are accepted and never answered."""
        self.mode = "stall"
        self._cut()
        try:
            yield
        finally:
            self.mode = "pass"
            self._cut()

    def close(self) -> None:
        """Stop accepting and cut every relayed connection."""
        self._closed = True
        self._listener.close()
        self._cut()


class MotoKMS:
    """``moto_server`` on loopback behind a :class:`Proxy`, IAM enforced; see the module doc.

    ``credentials_file`` holds the profiles ``keywell``, ``keywell-denied`` and
    ``keywell-wrong``; :meth:`environment` is what a process needs to use them.
    """

    GOOD = "keywell-0"
    DENIED = "keywell-denied"
    WRONG = "keywell-wrong"
    NO_PUBLIC = "keywell-no-public"  # in the account of keywell-0; kms:GetPublicKey denied
    ACCOUNTS = 4

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        #: One profile per moto account (``keywell-<i>``): an account and a
        #: region make one empty key namespace.
        self.accounts = [f"keywell-{i}" for i in range(self.ACCOUNTS)]
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "bootstrap", "AWS_SECRET_ACCESS_KEY": "x"}
        env.pop("INITIAL_NO_AUTH_ACTION_COUNT", None)
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "moto_server"), "-H", HOST, "-p", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_http(f"{self.url}/moto-api/data.json", self.process)
            self.credentials_file = self._users()
        except BaseException:
            self.stop()
            raise
        self.proxy = Proxy((HOST, self.port))
        self.endpoint = f"http://{HOST}:{self.proxy.port}"

    def _users(self) -> Path:
        import boto3

        def iam_in(account: str) -> Any:
            iam = boto3.client(
                "iam",
                endpoint_url=self.url,
                region_name="us-east-1",
                aws_access_key_id="bootstrap",
                aws_secret_access_key="x",
            )

            def to_account(request: Any, **_: Any) -> None:
                request.headers["x-moto-account-id"] = account

            iam.meta.events.register("before-sign.iam.*", to_account)
            return iam

        def user(
            account: str, name: str, *, allowed: bool, denied: str | None = None
        ) -> tuple[str, str]:
            iam = iam_in(account)
            iam.create_user(UserName=name)
            if allowed:
                statements = [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]
                if denied is not None:
                    statements.append({"Effect": "Deny", "Action": denied, "Resource": "*"})
                policy = {"Version": "2012-10-17", "Statement": statements}
                iam.put_user_policy(
                    UserName=name, PolicyName="kms", PolicyDocument=json.dumps(policy)
                )
            key = iam.create_access_key(UserName=name)["AccessKey"]
            return str(key["AccessKeyId"]), str(key["SecretAccessKey"])

        profiles = {
            name: user(f"{ACCOUNT_BASE + i:012d}", "keywell", allowed=True)
            for i, name in enumerate(self.accounts)
        }
        profiles[self.DENIED] = user(f"{ACCOUNT_BASE:012d}", "keywell-denied", allowed=False)
        profiles[self.NO_PUBLIC] = user(
            f"{ACCOUNT_BASE:012d}", "keywell-no-public", allowed=True, denied="kms:GetPublicKey"
        )
        profiles[self.WRONG] = ("AKIA" + secrets.token_hex(8).upper(), secrets.token_hex(20))
        # From here on moto checks every request's signature and IAM policy.
        request = urllib.request.Request(  # noqa: S310 - moto on loopback
            f"{self.url}/moto-api/reset-auth",
            data=b"0",
            headers={"Content-Type": "application/octet-stream"},
        )
        with urllib.request.urlopen(request, timeout=5):  # noqa: S310 - moto on loopback
            pass
        path = self.workdir / "aws-credentials"
        path.write_text(
            "".join(
                f"[{name}]\naws_access_key_id = {kid}\naws_secret_access_key = {secret}\n\n"
                for name, (kid, secret) in profiles.items()
            )
        )
        (self.workdir / "aws-config").write_text("")
        return path

    def environment(self) -> dict[str, str]:
        """Variables pointing boto3 at the profiles (and away from any real AWS setup)."""
        return {
            "AWS_SHARED_CREDENTIALS_FILE": str(self.credentials_file),
            "AWS_CONFIG_FILE": str(self.workdir / "aws-config"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def uri(self, region: str, *, profile: str = GOOD, timeout: float = 2.0) -> str:
        """The custody URI of ``region`` through the proxy with ``profile``."""
        return (
            f"awskms:region={region}?endpoint={self.endpoint}&profile={profile}&timeout={timeout:g}"
        )

    def client(self, region: str, profile: str = GOOD) -> Any:
        """A boto3 KMS client of ``region`` straight to moto (not through the proxy)."""
        import boto3

        session = boto3.session.Session(profile_name=profile, region_name=region)
        return session.client("kms", endpoint_url=self.url)

    def stop(self) -> None:
        """Stop the proxy and moto."""
        proxy = getattr(self, "proxy", None)
        if proxy is not None:
            proxy.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
