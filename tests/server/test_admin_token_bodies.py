"""``POST /admin/v1/admin-tokens`` bodies and token ids are strict, on SQLite and PostgreSQL.

Issue 12 (server attacker): ``"ttl": true`` made a one-second token, ``"3600"``,
``1e3`` and ``1.0`` were taken as seconds, a NUL in a name was a 500 on
PostgreSQL, control and bidi characters in names reached the terminal through
``keywell admin-token list``, and ``/admin-tokens/%201/revoke`` revoked token 1.
Every member of each kind is a 422 problem with nothing written, on both
stores; the scopes are :data:`keywell.server.auth.SCOPES`, ``metrics`` too.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from keywell.issuer import Issuer
from keywell.server import ServerConfig, create_app
from keywell.server.admin_tokens import AdminTokenCreate
from keywell.server.auth import SCOPES
from keywell.store.kek import KEKRing
from tests.store.pgutil import fresh_database

PATH = "/admin/v1/admin-tokens"
BASE = "http://keywell.test"

BAD_BODIES = [
    {"scopes": ["read"], "ttl": True},
    {"scopes": ["read"], "ttl": False},
    {"scopes": ["read"], "ttl": "3600"},
    {"scopes": ["read"], "ttl": 1.0},
    {"scopes": ["read"], "ttl": 3600.5},
    {"scopes": ["read"], "ttl": None},
    {"scopes": "read"},
    {"scopes": [1]},
    {"scopes": ["READ"]},
    {"scopes": ["read "]},
    {"scopes": ["read"], "name": 5},
    {"scopes": ["read"], "name": None},
    {"scopes": ["read"], "name": "a\u0000b"},
    {"scopes": ["read"], "name": "line\nfake: log"},
    {"scopes": ["read"], "name": "\u001b[2J"},
    {"scopes": ["read"], "name": "evil\u202etxt"},
    {"scopes": ["read"], "name": "tab\there"},
    {"scopes": ["read"], "name": "del\u007f"},
    {"scopes": ["read"], "name": "c1\u0085"},
    {"scopes": ["read"], "name": "zw\u200bj"},
    {"scopes": ["read"], "name": "x" * 201},
]
RAW_BODIES = ['{"scopes": ["read"], "ttl": 1e3}', '{"scopes": ["read"], "name": "\\ud800"}']
BAD_IDS = ["%201", "01", "+1", "1%20", "-1", "0", "1.0", "0x1", "%E2%91%A0", "99999999999"]


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Issuer]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'kw.db'}"
        issuer = Issuer(url, keks=KEKRing.generate(), auto_upgrade=True)
        yield issuer
        issuer.close()
    else:
        with fresh_database() as url:
            issuer = Issuer(url, keks=KEKRing.generate(), auto_upgrade=True)
            yield issuer
            issuer.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client(store: Issuer) -> AsyncIterator[httpx.AsyncClient]:
    store.create_keyset("default", issuer="https://issuer.test")
    admin = store.create_admin_token(["admin"], name="root")
    srv = create_app(store, ServerConfig(public_url=BASE, poll_interval=0.1))
    async with srv.running():
        transport = httpx.ASGITransport(app=srv)
        headers = {"Authorization": f"Bearer {admin}"}
        async with httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers) as c:
            yield c


@pytest.mark.anyio
async def test_every_bad_body_and_id_is_422_and_writes_nothing(
    client: httpx.AsyncClient, store: Issuer
) -> None:
    victim = store.create_admin_token(["read"], name="victim")
    before = store.list_admin_tokens()
    for body in BAD_BODIES:
        r = await client.post(PATH, json=body)
        assert (r.status_code, r.headers["content-type"]) == (422, "application/problem+json"), (
            body,
            r.text,
        )
    for raw in RAW_BODIES:
        r = await client.post(PATH, content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 422, (raw, r.text)
    for token_id in BAD_IDS:
        r = await client.post(f"{PATH}/{token_id}/revoke")
        assert r.status_code in (404, 422), (token_id, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    assert store.list_admin_tokens() == before  # nothing created, nothing revoked
    assert store.check_admin_token(victim) is not None


@pytest.mark.anyio
async def test_every_scope_of_the_server_can_be_granted(
    client: httpx.AsyncClient, store: Issuer
) -> None:
    for scope in sorted(SCOPES):
        r = await client.post(PATH, json={"scopes": [scope], "name": f"only {scope} é"})
        assert r.status_code == 201, (scope, r.text)
        assert r.json()["scopes"] == [scope]
        assert store.check_admin_token(r.json()["token"]) == frozenset({scope})
    metrics = await client.post(PATH, json={"scopes": ["metrics"]})
    got = await client.get(
        "/metrics", headers={"Authorization": f"Bearer {metrics.json()['token']}"}
    )
    assert got.status_code == 200


@given(st.text(max_size=210))
def test_a_name_is_taken_iff_it_is_at_most_200_printable_characters(name: str) -> None:
    good = len(name) <= 200 and name.isprintable()
    try:
        AdminTokenCreate.model_validate({"scopes": ["read"], "name": name})
    except ValidationError:
        assert not good
    else:
        assert good


@given(st.one_of(st.booleans(), st.floats(), st.text(), st.none(), st.lists(st.integers())))
def test_a_ttl_that_is_no_json_integer_is_refused(ttl: object) -> None:
    with pytest.raises(ValidationError):
        AdminTokenCreate.model_validate_json(json.dumps({"scopes": ["read"], "ttl": ttl}))
