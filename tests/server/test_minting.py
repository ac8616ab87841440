"""Token minting on the raw ASGI path never reads the store on the event loop."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any

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
