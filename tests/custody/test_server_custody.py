"""The key server over a custody backend: mints off the event loop, readiness follows the backend.

A real app (``create_app``) over a real Issuer whose default set lives in
each backend, driven through httpx's ASGI transport. Minting signs in the
backend from a worker thread (never the event loop's); while the backend is
down ``/readyz`` answers 503 with ``KW_CUSTODY`` and the JWKS is still served.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from keywell.issuer import Issuer
from keywell.issuer.signing import SignerEntry
from keywell.server import ServerConfig, create_app
from tests.custody.contract import ISS, POLICY, Clock, Custodian, make_issuer, verify_both

pytestmark = pytest.mark.anyio
BASE = "http://keywell.test"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def issuer(backend: Custodian, tmp_path: Path) -> Iterator[Issuer]:
    iss = make_issuer(f"sqlite:///{tmp_path / 'kw.db'}", Clock())
    iss.create_keyset("default", issuer=ISS, policy=POLICY, custody=backend.uri)
    yield iss
    iss.close()


@pytest.fixture
async def client(issuer: Issuer) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(issuer, ServerConfig(public_url=BASE, tick_interval=0.2, poll_interval=0.1))
    async with app.running():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
            yield c


async def test_minting_signs_in_the_backend_off_the_event_loop(
    client: httpx.AsyncClient, issuer: Issuer
) -> None:
    loop_thread = threading.get_ident()
    sign_threads: list[int] = []
    real_loader = issuer._signers._loader

    def spying_loader(name: str, now: datetime) -> SignerEntry:  # the real signer runs
        entry = real_loader(name, now)
        real_sign = entry.sign_fn
        assert real_sign is not None  # a custody key signs in its backend

        def sign(data: bytes) -> bytes:
            sign_threads.append(threading.get_ident())
            return real_sign(data)

        return SignerEntry(
            entry.key, entry.issuer, entry.max_ttl, entry.mono_expiry, entry.valid_until, sign
        )

    issuer._signers._loader = spying_loader
    headers = {"Authorization": f"Bearer {issuer.create_admin_token(['sign'], name='mint')}"}
    tokens: list[Any] = []
    for n in range(3):  # the first loads the signer, the others use the cached one
        answer = await client.post(
            "/admin/v1/keysets/default/tokens", json={"claims": {"n": n}}, headers=headers
        )
        assert answer.status_code == 201, answer.text
        tokens.append(answer.json()["token"])
    assert len(sign_threads) == 3
    assert loop_thread not in sign_threads
    clock = Clock()  # the issuer's clock: the tokens were minted at its time
    assert [verify_both(issuer, "default", t, clock)["n"] for t in tokens] == [0, 1, 2]


async def test_readyz_follows_the_backend_while_the_jwks_is_served(
    client: httpx.AsyncClient, backend: Custodian
) -> None:
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    jwks = await client.get("/.well-known/jwks.json")
    assert jwks.status_code == 200
    with backend.backend().down():
        down = await client.get("/readyz")
        assert down.status_code == 503
        assert down.json()["code"] == "KW_CUSTODY"
        scheme = backend.backend().scheme
        assert f"({scheme} custody, " in down.json()["detail"]  # the backend, not its address
        assert "127.0.0.1" not in down.text
        served = await client.get("/.well-known/jwks.json")
        assert (served.status_code, served.content) == (200, jwks.content)
    assert (await client.get("/readyz")).status_code == 200


async def test_the_admin_api_creates_shows_and_moves_custody(
    client: httpx.AsyncClient, issuer: Issuer, backend: Custodian
) -> None:
    headers = {"Authorization": f"Bearer {issuer.create_admin_token(['admin'], name='adm')}"}
    made = await client.post(
        "/admin/v1/keysets",
        json={"name": "api", "issuer": ISS, "custody": backend.uri},
        headers=headers,
    )
    assert made.status_code == 201, made.text
    assert made.json()["custody"] == backend.uri
    keys = await client.get("/admin/v1/keysets/api/keys", headers=headers)
    assert [k["custody"] for k in keys.json()] == [backend.uri] * 2
    moved = await client.put(
        "/admin/v1/keysets/api/custody", json={"custody": "db"}, headers=headers
    )
    assert (moved.status_code, moved.json()["custody"]) == (200, "db")
    refused = {
        "not a custody URI": ("nfs://x", 422, "KW_INVALID_REQUEST"),
        "an inline credential": ("pkcs11:token=t?pin-value=1234", 422, "KW_INVALID_REQUEST"),
        "a refused credential": (backend.backend().wrong_credential_uri(), 503, "KW_CUSTODY"),
    }
    for case, (uri, status, code) in refused.items():
        body = {"name": "other", "issuer": ISS, "custody": uri}
        answer = await client.post("/admin/v1/keysets", json=body, headers=headers)
        assert (answer.status_code, answer.json()["code"]) == (status, code), case
        assert "1234" not in answer.text
    hmac = {"name": "other", "issuer": ISS, "alg": "HS256", "custody": backend.uri}
    answer = await client.post("/admin/v1/keysets", json=hmac, headers=headers)
    assert (answer.status_code, answer.json()["code"]) == (422, "KW_INVALID_REQUEST")
    assert f"{backend.scheme} custody cannot hold HS256 keys" in answer.json()["detail"]
    assert (await client.get("/admin/v1/keysets/other", headers=headers)).status_code == 404
