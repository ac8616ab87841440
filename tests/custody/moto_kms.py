"""AWS KMS on loopback for the tests and the benchmarks: moto's server behind a TCP proxy.

:class:`MotoKMS` runs ``moto_server`` (AWS KMS in moto's server mode) on a
free loopback port with IAM enforced: in each of a few accounts a user allowed
``kms:*`` (profiles ``keywell-0`` ...), a user allowed nothing (profile
``keywell-denied``: moto answers ``AccessDenied``), access keys moto never
issued (profile ``keywell-wrong``: ``InvalidClientTokenId``), and a user
allowed all but ``kms:GetPublicKey`` (``keywell-no-public``). Moto accepts any
credential until IAM is enforced (``/moto-api/reset-auth``), so this is how a
refused credential is real here.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.custody.tcp_proxy import TcpProxy

HOST = "127.0.0.1"
ACCOUNT_BASE = 100000000000  # moto account IDs handed out: ACCOUNT_BASE + i
START_TIMEOUT = 30.0  # seconds for a server to answer after its start
START_ATTEMPTS = 3


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


class MotoKMS:
    """``moto_server`` on loopback behind a :class:`TcpProxy`, IAM enforced; see the module doc.

    ``credentials_file`` holds the profiles ``keywell``, ``keywell-denied`` and
    ``keywell-wrong``; :meth:`environment` is what a process needs to use them.
    """

    GOOD = "keywell-0"
    DENIED = "keywell-denied"
    WRONG = "keywell-wrong"
    NO_PUBLIC = "keywell-no-public"  # in the account of keywell-0; kms:GetPublicKey denied
    ADMIN = "keywell-admin"  # in the account of keywell-0; iam:* only (see add_user)
    ACCOUNTS = 4

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._lock = threading.Lock()
        #: One profile per moto account (``keywell-<i>``): an account and a
        #: region make one empty key namespace.
        self.accounts = [f"keywell-{i}" for i in range(self.ACCOUNTS)]
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "bootstrap", "AWS_SECRET_ACCESS_KEY": "x"}
        env.pop("INITIAL_NO_AUTH_ACTION_COUNT", None)
        command = [str(Path(sys.executable).parent / "moto_server"), "-H", HOST, "-p"]
        for attempt in range(START_ATTEMPTS):  # another process may take the port first
            self.port = free_port()
            self.url = f"http://{HOST}:{self.port}"
            self.process = subprocess.Popen(
                [*command, str(self.port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                wait_http(f"{self.url}/moto-api/data.json", self.process)
                break
            except RuntimeError:
                self.stop()
                if attempt == START_ATTEMPTS - 1:
                    raise
        try:
            self.credentials_file = self._users()
        except BaseException:
            self.stop()
            raise
        #: Clients go through this proxy (refusing, stalling) to moto.
        self.proxy = TcpProxy((HOST, self.port))
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
            account: str,
            name: str,
            *,
            allowed: bool,
            denied: str | None = None,
            service: str = "kms",
        ) -> tuple[str, str]:
            iam = iam_in(account)
            iam.create_user(UserName=name)
            if allowed:
                statements = [{"Effect": "Allow", "Action": f"{service}:*", "Resource": "*"}]
                if denied is not None:
                    statements.append({"Effect": "Deny", "Action": denied, "Resource": "*"})
                policy = {"Version": "2012-10-17", "Statement": statements}
                iam.put_user_policy(
                    UserName=name, PolicyName=service, PolicyDocument=json.dumps(policy)
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
        profiles[self.ADMIN] = user(
            f"{ACCOUNT_BASE:012d}", "keywell-admin", allowed=True, service="iam"
        )
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

    def add_user(self, policy: dict[str, Any]) -> str:
        """A new IAM user of keywell-0's account with ``policy`` alone; returns its profile."""
        import boto3

        name = f"keywell-user-{secrets.token_hex(4)}"
        session = boto3.session.Session(profile_name=self.ADMIN, region_name="us-east-1")
        iam = session.client("iam", endpoint_url=self.url)
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        with self._lock, self.credentials_file.open("a") as handle:
            handle.write(
                f"[{name}]\naws_access_key_id = {key['AccessKeyId']}\n"
                f"aws_secret_access_key = {key['SecretAccessKey']}\n\n"
            )
        return name

    def environment(self) -> dict[str, str]:
        """Variables pointing boto3 at the profiles (and away from any real AWS setup)."""
        return {
            "AWS_SHARED_CREDENTIALS_FILE": str(self.credentials_file),
            "AWS_CONFIG_FILE": str(self.workdir / "aws-config"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def uri(
        self, region: str, *, profile: str = GOOD, timeout: float = 2.0, direct: bool = False
    ) -> str:
        """The custody URI of ``region`` with ``profile``, through the proxy unless ``direct``."""
        endpoint = self.url if direct else self.endpoint
        return f"awskms:region={region}?endpoint={endpoint}&profile={profile}&timeout={timeout:g}"

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
