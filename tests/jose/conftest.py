"""The Ed25519 verification path under test: libsodium (PyNaCl) and OpenSSL, both.

Modules that must hold on both paths (the Wycheproof and attack suites) use
``pytestmark = pytest.mark.usefixtures("ed25519_backend")``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from keywell.jose import speedups


@pytest.fixture(params=["libsodium", "openssl"])
def ed25519_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    speedups.use_ed25519(request.param)
    assert speedups.ed25519_backend() == request.param
    yield request.param
    speedups.use_ed25519("auto")
