from __future__ import annotations

import time
from typing import Any

import pytest

from keywell import JWK, JWKSet, Verifier, jwt

ISS = "https://issuer.example"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def signing_key() -> JWK:
    return JWK.generate("ES256", kid="int-1")


@pytest.fixture
def verifier(signing_key: JWK) -> Verifier:
    return Verifier(JWKSet([signing_key.public()]), issuer=ISS, audience="api")


def make_token(key: JWK, **claims: Any) -> str:
    body = {"iss": ISS, "aud": "api", "sub": "alice", "exp": int(time.time()) + 300, **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
