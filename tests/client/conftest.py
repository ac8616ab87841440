from __future__ import annotations

from collections.abc import Iterator

import pytest

from keywell import JWK
from tests.client.jwks_server import Clock, JWKSServer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server() -> Iterator[JWKSServer]:
    srv = JWKSServer()
    yield srv
    srv.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def key_a() -> JWK:
    return JWK.generate("ES256", kid="key-a")


@pytest.fixture(scope="session")
def key_b() -> JWK:
    return JWK.generate("ES256", kid="key-b")
