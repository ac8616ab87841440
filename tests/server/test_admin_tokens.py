"""``/admin/v1/admin-tokens`` on a real loopback server: list, create with expiry, revoke.

The Issuer's clock is the test's, so expiry is reached by moving it, not by
waiting. A token is first presented only after it was revoked or expired:
the server's few-second auth cache (``auth_cache_ttl``) never holds it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from keywell.cli.app import app
from keywell.issuer import Issuer
from keywell.server import ServerConfig, create_app
from keywell.store.kek import KEKRing

PATH = "/admin/v1/admin-tokens"


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Live:
    client: httpx.Client
    clock: Clock
    admin: str
    read: str


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    base = f"http://127.0.0.1:{port}"
    clock = Clock(datetime.now(UTC))
    issuer = Issuer(
        f"sqlite:///{tmp_path / 'kw.db'}", keks=KEKRing.generate(), auto_upgrade=True, clock=clock
    )
    issuer.create_keyset("default", issuer=base)
    admin = issuer.create_admin_token(["admin"], name="root")
    read = issuer.create_admin_token(["read"], name="reader")
    config = ServerConfig(public_url=base, port=port, poll_interval=0.1)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(issuer, config, close_issuer=True),
            host="127.0.0.1",
            port=port,
            lifespan="on",
            log_config=None,
            access_log=False,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "server thread ended"
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    with httpx.Client(base_url=base, timeout=10) as client:
        yield Live(client, clock, admin, read)
    server.should_exit = True
    thread.join(timeout=10)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_create_list_revoke_and_the_revoked_token_gets_401(live: Live) -> None:
    c = live.client
    r = c.post(PATH, json={"scopes": ["read"], "name": "ci", "ttl": 3600}, headers=auth(live.admin))
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["token"].startswith("kwa_")
    assert made["scopes"] == ["read"]
    created = datetime.fromisoformat(made["created_at"])
    assert datetime.fromisoformat(made["expires_at"]) - created == timedelta(hours=1)
    assert made["usable"] is True

    listed = c.get(PATH, headers=auth(live.admin)).json()
    assert [t["name"] for t in listed] == ["root", "reader", "ci"]
    assert all("token" not in t for t in listed)
    assert all(t["expires_at"] is not None for t in listed)  # 90 days by default

    r = c.post(f"{PATH}/{made['id']}/revoke", headers=auth(live.admin))
    assert r.status_code == 200
    assert (r.json()["revoked"], r.json()["usable"]) == (True, False)
    refused = c.get("/admin/v1/keysets", headers=auth(made["token"]))
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")
    again = c.post(f"{PATH}/{made['id']}/revoke", headers=auth(live.admin))
    assert again.status_code == 200  # idempotent


def test_an_expired_token_gets_401(live: Live) -> None:
    c = live.client
    made = c.post(PATH, json={"scopes": ["read"], "ttl": 60}, headers=auth(live.admin)).json()
    live.clock.now += timedelta(seconds=59)
    fresh = c.post(PATH, json={"scopes": ["read"], "ttl": 60}, headers=auth(live.admin)).json()
    live.clock.now += timedelta(seconds=2)  # the first is 61 s old, the second 2 s
    assert c.get("/admin/v1/keysets", headers=auth(made["token"])).status_code == 401
    assert c.get("/admin/v1/keysets", headers=auth(fresh["token"])).status_code == 200
    listed = {t["id"]: t for t in c.get(PATH, headers=auth(live.admin)).json()}
    assert (listed[made["id"]]["revoked"], listed[made["id"]]["usable"]) == (False, False)


@pytest.mark.parametrize(
    ("method", "path", "body", "token", "status"),
    [
        ("GET", PATH, None, "read", 403),
        ("POST", PATH, {"scopes": ["read"]}, "read", 403),
        ("POST", f"{PATH}/1/revoke", None, "read", 403),
        ("GET", PATH, None, None, 401),
        ("POST", f"{PATH}/999/revoke", None, "admin", 404),
        ("POST", f"{PATH}/0/revoke", None, "admin", 422),
        ("POST", PATH, {"scopes": []}, "admin", 422),
        ("POST", PATH, {"scopes": ["root"]}, "admin", 422),
        ("POST", PATH, {"scopes": ["read"], "ttl": 0}, "admin", 422),
        ("POST", PATH, {"scopes": ["read"], "ttl": 10 * 366 * 86400}, "admin", 422),
        ("POST", PATH, {"scopes": ["read"], "expires": 1}, "admin", 422),
    ],
)
def test_refusals(
    live: Live, method: str, path: str, body: object, token: str | None, status: int
) -> None:
    headers = {} if token is None else auth(live.admin if token == "admin" else live.read)
    r = live.client.request(method, path, json=body, headers=headers)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"


def test_the_cli_lists_and_revokes_through_the_admin_api(live: Live) -> None:
    base = str(live.client.base_url).rstrip("/")
    made = live.client.post(
        PATH, json={"scopes": ["read"], "name": "ci"}, headers=auth(live.admin)
    ).json()
    remote = ["--admin-url", base, "--token", live.admin, "--json"]
    listed = CliRunner().invoke(app, ["admin-token", "list", *remote])
    assert listed.exit_code == 0, listed.output
    assert [(t["name"], t["state"]) for t in json.loads(listed.stdout)] == [
        ("root", "valid"),
        ("reader", "valid"),
        ("ci", "valid"),
    ]
    revoked = CliRunner().invoke(app, ["admin-token", "revoke", str(made["id"]), *remote])
    assert (revoked.exit_code, json.loads(revoked.stdout)) == (0, {"revoked": 1})
    again = CliRunner().invoke(app, ["admin-token", "revoke", str(made["id"]), *remote])
    assert json.loads(again.stdout) == {"revoked": 0}
    unknown = CliRunner().invoke(app, ["admin-token", "revoke", "999", *remote])
    assert (unknown.exit_code, json.loads(unknown.stdout)["error"]["code"]) == (
        2,
        "KW_ADMIN_TOKEN_NOT_FOUND",
    )
    assert live.client.get("/admin/v1/keysets", headers=auth(made["token"])).status_code == 401
    every = CliRunner().invoke(app, ["admin-token", "list", "--all", *remote])
    assert [t["state"] for t in json.loads(every.stdout)] == ["valid", "valid", "revoked"]
