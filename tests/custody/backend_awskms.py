"""The ``awskms_backend`` fixture: moto's KMS server on loopback, as the contract suite needs it.

Moto (``moto_server``) runs behind a :class:`tests.custody.tcp_proxy.TcpProxy`
(down and stalled are real network states) with IAM enforced, so a wrong
credential is really refused. Each :meth:`AWSKMSHandle.fresh_uri` is an
(account, region) not handed out before (moto keeps one key store for each); boto3 reads the
profiles from the credentials file the fixture writes, pointed to by the
environment for the whole session.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import boto3
import pytest

from keywell.custody import parse_custody
from keywell.custody.base import key_name_time
from tests.custody.moto_kms import MotoKMS

SCHEME = "awskms"
URI_TIMEOUT = 15.0  # per call: moto makes RSA-4096 keys in Python, slow on a loaded machine


class AWSKMSHandle:
    """A running moto KMS (see :class:`tests.custody.handles.BackendHandle`)."""

    scheme = SCHEME

    def __init__(self, moto: MotoKMS) -> None:
        self.moto = moto
        regions = sorted(boto3.session.Session().get_available_regions("kms"))
        # Each (account, region) is an empty key store in moto: 4 x 34 of them.
        self._spaces = itertools.cycle(itertools.product(regions, moto.accounts))
        self._lock = threading.Lock()

    def _region(self) -> str:
        return self._space()[0]

    def _space(self) -> tuple[str, str]:
        with self._lock:
            return next(self._spaces)

    def fresh_uri(self, *, timeout: float = URI_TIMEOUT) -> str:
        """An (account, region) no earlier call handed out (cycling once all were used)."""
        region, profile = self._space()
        return self.moto.uri(region, profile=profile, timeout=timeout)

    def wrong_credential_uri(self) -> str:
        """Access keys moto's IAM never issued: ``InvalidClientTokenId`` (HTTP 403)."""
        return self.moto.uri(self._region(), profile=MotoKMS.WRONG, timeout=URI_TIMEOUT)

    def denied_uri(self) -> str:
        """A real IAM user allowed nothing: ``AccessDenied`` (HTTP 403)."""
        return self.moto.uri(self._region(), profile=MotoKMS.DENIED, timeout=URI_TIMEOUT)

    def down(self) -> AbstractContextManager[None]:
        """While inside: every connection to the endpoint is reset."""
        return self.moto.proxy.refusing()

    def slow(self) -> AbstractContextManager[None]:
        """While inside: connections are accepted and never answered (a hanging backend)."""
        return self.moto.proxy.stalling()

    def client(self, uri: str) -> Any:
        """boto3's own KMS client for ``uri``'s account and region, straight to moto."""
        spec = parse_custody(uri)
        return self.moto.client(spec.attrs["region"], spec.query["profile"])

    def delete_out_of_band(self, uri: str, ref: str) -> None:
        """Schedule ``ref``'s deletion with boto3 (the quickest deletion KMS offers)."""
        self.client(uri).schedule_key_deletion(KeyId=ref, PendingWindowInDays=7)

    def held(self, uri: str, keyset: str) -> set[str]:
        """Key IDs tagged for ``keyset`` and not pending deletion, asked with boto3."""
        client = self.client(uri)
        found = set()
        for page in client.get_paginator("list_keys").paginate():
            for entry in page["Keys"]:
                tags = client.list_resource_tags(KeyId=entry["KeyId"])["Tags"]
                values = {tag["TagKey"]: tag["TagValue"] for tag in tags}
                name = values.get("keywell-key", "")
                if values.get("keywell-keyset") != keyset or key_name_time(name, keyset) is None:
                    continue
                state = client.describe_key(KeyId=entry["KeyId"])["KeyMetadata"]["KeyState"]
                if state != "PendingDeletion":
                    found.add(entry["KeyId"])
        return found


@pytest.fixture(scope="session")
def awskms_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AWSKMSHandle]:
    """moto's KMS on loopback for the session, stopped at its end."""
    workdir: Path = tmp_path_factory.mktemp("awskms")
    moto = MotoKMS(workdir)
    saved = {name: os.environ.get(name) for name in (*moto.environment(), "AWS_PROFILE")}
    os.environ.update(moto.environment())
    os.environ.pop("AWS_PROFILE", None)
    try:
        yield AWSKMSHandle(moto)
    finally:
        moto.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
