"""The custody backends' fixtures, and the ``custody``/``backend`` fixtures of the contract suite.

Each ``tests/custody/backend_<scheme>.py`` starts its real backend (SoftHSM2
in a tmp dir, ``bao server -dev`` or ``moto_server`` on loopback) for the
session; ``custody`` is parametrised over every custody (``db`` included),
``backend`` over the three real backends only, each with a fresh URI.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from keywell.custody import close_all
from keywell.issuer import Issuer
from tests.custody.backend_awskms import awskms_backend
from tests.custody.backend_pkcs11 import pkcs11_backend
from tests.custody.backend_transit import transit_backend
from tests.custody.contract import Clock, Custodian, make_issuer
from tests.custody.handles import iter_schemes

__all__ = ["awskms_backend", "backend", "custody", "pkcs11_backend", "transit_backend"]

BACKENDS = [s for s in iter_schemes() if s != "db"]


def _custodian(request: pytest.FixtureRequest, scheme: str) -> Custodian:
    if scheme == "db":
        return Custodian("db", "db", None)
    handle = request.getfixturevalue(f"{scheme}_backend")
    return Custodian(scheme, handle.fresh_uri(), handle)


@pytest.fixture(params=list(iter_schemes()))
def custody(request: pytest.FixtureRequest) -> Iterator[Custodian]:
    """Each custody in turn, with a fresh URI (an empty token, mount or key store)."""
    yield _custodian(request, request.param)
    close_all()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[Custodian]:
    """Each real backend in turn, with a fresh URI."""
    yield _custodian(request, request.param)
    close_all()


@pytest.fixture
def url(tmp_path: Path) -> str:
    """A fresh SQLite store file's URL."""
    return f"sqlite:///{tmp_path / 'keywell.db'}"


@pytest.fixture
def clock() -> Clock:
    """The contract suite's settable clock."""
    return Clock()


@pytest.fixture
def issuer(url: str, clock: Clock) -> Iterator[Issuer]:
    """An Issuer on ``url`` driven by ``clock`` (modules needing another one define their own)."""
    iss = make_issuer(url, clock)
    yield iss
    iss.close()
