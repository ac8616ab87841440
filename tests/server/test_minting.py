"""Token minting on the raw ASGI path never reads the store on the event loop."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any

import anyio
import httpx
import pytest

from keywell.issuer import Issuer
from keywell.jose.base64url import b64url_decode

from .conftest import bearer

pytestmark = pytest.mark.anyio


async def test_a_mint_after_a_rotation_loads_the_new_key_off_the_event_loop(
    client: httpx.AsyncClient, issuer: Issuer, tokens: dict[str, str]
) -> None:
    loop_thread = threading.get_ident()
    load_threads: list[int] = []
    real_loader = issuer._signers._loader

    def recording_loader(name: str, now: datetime) -> Any:  # a spy: the real load runs
        load_threads.append(threading.get_ident())
        return real_loader(name, now)

    issuer._signers._loader = recording_loader
    h = bearer(tokens["sign"])
    url = "/admin/v1/keysets/default/tokens"
    first = await client.post(url, json={"claims": {}}, headers=h)
    assert first.status_code == 201
    rotated = await client.post(
        "/admin/v1/keysets/default/rotate",
        json={"emergency": True},
        headers=bearer(tokens["rotate"]),
    )
    assert rotated.status_code == 200
    second = await client.post(url, json={"claims": {}}, headers=h)  # cache cleared: a load
    third = await client.post(url, json={"claims": {}}, headers=h)  # cache warm: inline
    assert second.status_code == third.status_code == 201
    kids = [
        json.loads(b64url_decode(r.json()["token"].split(".")[0]))["kid"] for r in (second, third)
    ]
    assert kids == [rotated.json()["active_kid"]] * 2
    assert len(load_threads) == 2
    assert loop_thread not in load_threads


async def test_concurrent_mints_after_an_invalidation_load_the_signer_once(
    client: httpx.AsyncClient, issuer: Issuer, tokens: dict[str, str]
) -> None:
    n = 12
    h = bearer(tokens["sign"])
    url = "/admin/v1/keysets/default/tokens"
    warm = await client.post(url, json={"claims": {}}, headers=h)  # auth and signer cached
    assert warm.status_code == 201
    issuer.invalidate_signer("default")  # as the scheduler does when the set changes

    all_missed = threading.Event()
    missed: set[str] = set()  # the requests (by sub) that found no cached signer
    loads: list[str] = []
    real_try = issuer.try_sign_cached
    real_loader = issuer._signers._loader

    def counting_try(name: str, claims: Any, *, ttl: Any = None) -> str | None:
        token = real_try(name, claims, ttl=ttl)
        if token is None:
            missed.add(claims["sub"])
            if len(missed) == n:
                all_missed.set()
        return token

    def blocking_loader(name: str, now: datetime) -> Any:  # a spy: the real load runs
        loads.append(name)
        # hold the reload until every request has missed the cache, so all N are
        # in flight together (the bound only guards against a hung test)
        all_missed.wait(30)
        return real_loader(name, now)

    issuer.try_sign_cached = counting_try  # type: ignore[method-assign]
    issuer._signers._loader = blocking_loader
    responses: list[httpx.Response] = []

    async def mint(i: int) -> None:
        claims = {"sub": f"client-{i}"}
        responses.append(await client.post(url, json={"claims": claims}, headers=h))

    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(mint, i)

    assert all_missed.is_set()
    assert missed == {f"client-{i}" for i in range(n)}  # all N missed together
    assert loads == ["default"]  # exactly one store load
    assert [r.status_code for r in responses] == [201] * n
    headers = {r.json()["token"].split(".")[0] for r in responses}
    assert len(headers) == 1  # one key signed them all
    subs = sorted(
        json.loads(b64url_decode(r.json()["token"].split(".")[1]))["sub"] for r in responses
    )
    assert subs == sorted(f"client-{i}" for i in range(n))
