"""Many mints against a custody backend: concurrent backend calls, none starving the server.

A real app over a real Issuer with one set in Transit custody (OpenBao behind
the stalling proxy) and one in ``db`` custody. Concurrent mints call the
backend concurrently (they were serialised behind the set's reload lock, so
a set minted at most one token per backend round trip); while far more mints
than the server has worker threads hang on the backend, ``/readyz``, the JWKS
and minting from the ``db`` set still answer, and the hanging mints end as
typed 503 problems once the custody's timeout passes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from keywell.custody import close_all
from keywell.issuer import Issuer
from keywell.server import ServerConfig, create_app
from keywell.server.minting import BACKEND_CALLS
from tests.custody.backend_transit import TransitHandle
from tests.custody.contract import ISS, POLICY, Clock, make_issuer

pytestmark = pytest.mark.anyio
BASE = "http://keywell.test"
TIMEOUT = 2  # the custody's per-call timeout, seconds
HANG_BOUND = 30  # seconds: hang detection only


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def issuer(transit_backend: TransitHandle, tmp_path: Path) -> Iterator[Issuer]:
    iss = make_issuer(f"sqlite:///{tmp_path / 'kw.db'}", Clock())
    uri = transit_backend.uri(transit_backend.new_mount(), timeout=TIMEOUT)
    iss.create_keyset("vault", issuer=ISS, policy=POLICY, custody=uri)
    iss.create_keyset("local", issuer=ISS, policy=POLICY)
    yield iss
    iss.close()
    close_all()


@pytest.fixture
async def client(issuer: Issuer) -> AsyncIterator[httpx.AsyncClient]:
    config = ServerConfig(public_url=BASE, tick_interval=60, poll_interval=60)
    app = create_app(issuer, config)
    async with app.running():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE, timeout=60) as c:
            yield c


async def _wait_for(predicate: object, what: str) -> None:
    with anyio.fail_after(HANG_BOUND):
        while not predicate():  # type: ignore[operator]
            await anyio.sleep(0.02)


async def test_concurrent_mints_call_the_backend_concurrently_and_never_starve_the_server(
    client: httpx.AsyncClient, issuer: Issuer, transit_backend: TransitHandle
) -> None:
    headers = {"Authorization": f"Bearer {issuer.create_admin_token(['sign'], name='mint')}"}
    for name in ("vault", "local"):  # the signers are loaded
        answer = await client.post(f"/admin/v1/keysets/{name}/tokens", json={}, headers=headers)
        assert answer.status_code == 201, answer.text
    jwks = (await client.get("/keysets/vault/jwks.json")).content
    proxy = transit_backend.proxy
    many = 40 + 2 * BACKEND_CALLS  # more than anyio's 40 default worker threads
    answers: list[httpx.Response] = []

    async def mint() -> None:
        answers.append(
            await client.post("/admin/v1/keysets/vault/tokens", json={}, headers=headers)
        )

    with proxy.stalling():
        async with anyio.create_task_group() as tg:
            for _ in range(many):
                tg.start_soon(mint)
            # the backend sees concurrent calls, up to the limiter (serialised: one)
            await _wait_for(lambda: len(proxy._live) >= BACKEND_CALLS, "concurrent calls")
            assert (await client.get("/readyz")).status_code == 503  # answered, not starved
            served = await client.get("/keysets/vault/jwks.json")
            assert (served.status_code, served.content) == (200, jwks)
            issuer.invalidate_signer("local")  # a store read in a worker thread
            local = await client.post("/admin/v1/keysets/local/tokens", json={}, headers=headers)
            assert local.status_code == 201, local.text
            assert len(answers) < many  # all of this while the backend still hangs
    assert len(answers) == many
    assert {(a.status_code, a.json()["code"]) for a in answers} == {(503, "KW_CUSTODY")}
    after = await client.post("/admin/v1/keysets/vault/tokens", json={}, headers=headers)
    assert after.status_code == 201, after.text
