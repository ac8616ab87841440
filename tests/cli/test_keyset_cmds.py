"""``keywell keyset``, ``kek`` and ``db`` on a real SQLite file, and on a real server over HTTP."""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from keywell.issuer import Issuer
from keywell.lifecycle import KeyState
from keywell.server import ServerConfig, create_app
from keywell.store.kek import KEKRing
from tests.cli.conftest import run

ISS = "https://issuer.cli.test"


def new_kek() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KEK", "KEKS", "KEK_FILE", "KEK_ID", "DATABASE_URL", "TOKEN"):
        monkeypatch.delenv(f"KEYWELL_{name}", raising=False)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'kw.db'}"


@pytest.fixture
def env() -> dict[str, str]:
    return {"KEYWELL_KEK": new_kek(), "KEYWELL_KEK_ID": "old"}


def cli(args: list[str], env: dict[str, str]) -> tuple[int, Any]:
    """Run with --json; the exit code and the parsed stdout."""
    if "--" in args:  # options must come before the end-of-options marker
        at = args.index("--")
        args = [*args[:at], "--json", *args[at:]]
    else:
        args = [*args, "--json"]
    result = run(args, env=env)
    return result.exit_code, json.loads(result.stdout)


def key_states(db: str, env: dict[str, str], name: str) -> dict[str, KeyState]:
    issuer = Issuer(db, keks=KEKRing.from_env(env))
    try:
        return {k.kid: k.state for k in issuer.keys(name)}
    finally:
        issuer.close()


@pytest.fixture
def upgraded(db: str, env: dict[str, str]) -> str:
    assert cli(["db", "upgrade", "--database", db], env) == (0, {"revision": "0004"})
    return db


def test_db_upgrade_first_then_idempotent(db: str, env: dict[str, str]) -> None:
    code, out = cli(["keyset", "list", "--database", db], env)
    assert (code, out["error"]["code"]) == (2, "KW_SCHEMA")
    assert "keywell db upgrade" in out["error"]["message"]
    assert not Path(db.removeprefix("sqlite:///")).exists()  # nothing created by a failed list
    for _ in range(2):
        assert cli(["db", "upgrade", "--database", db], env) == (0, {"revision": "0004"})
    assert cli(["keyset", "list", "--database", db], env) == (0, [])
    plain = run(["db", "upgrade", "--database", db], env=env)
    assert plain.stdout == "database at revision 0004 (latest)\n"


def test_local_create_list_show_rotate_revoke(upgraded: str, env: dict[str, str]) -> None:
    db = upgraded
    create = ["keyset", "create", "api", "--issuer", ISS, "--database", db, "--prepublish", "2d"]
    code, shown = cli(create, env)
    assert code == 0
    assert shown["keyset"]["policy"]["prepublish"] == 2 * 86400
    assert sorted(k["state"] for k in shown["keys"]) == ["active", "pending"]
    active = next(k["kid"] for k in shown["keys"] if k["state"] == "active")
    code, again = cli(create, env)
    assert (code, again["error"]["code"]) == (2, "KW_KEYSET_EXISTS")

    code, sets = cli(["keyset", "list", "--database", db], env)
    assert [(s["name"], s["issuer"], s["alg"]) for s in sets] == [("api", ISS, "ES256")]

    code, deferred = cli(["keyset", "rotate", "api", "--database", db], env)
    assert (code, deferred["performed"], deferred["active_kid"]) == (3, False, active)
    assert deferred["next_possible_at"] is not None
    plain_deferred = run(["keyset", "rotate", "api", "--database", db], env=env)
    assert plain_deferred.exit_code == 3  # the same distinct code as with --json
    assert plain_deferred.stdout.startswith("not rotated: ")

    pending = next(k["kid"] for k in shown["keys"] if k["state"] == "pending")
    published_before = {
        k["kid"] for k in cli(["keyset", "show", "api", "--database", db], env)[1]["keys"]
    }
    emergency = run(["keyset", "rotate", "api", "--emergency", "--database", db], env=env)
    assert emergency.exit_code == 0
    assert "warning: emergency rotation: the pending key" in emergency.stderr
    assert emergency.stdout.startswith(f"rotated: key {pending} signs now")
    states = key_states(db, env, "api")
    assert states[active] is KeyState.RETIRED
    # Invariant 5: the new signer was already published; a new successor is pending.
    assert states[pending] is KeyState.ACTIVE
    assert pending in published_before
    assert [k for k, s in states.items() if s is KeyState.PENDING] != []
    assert not {k for k, s in states.items() if s is KeyState.PENDING} & published_before

    # Thumbprint kids may start with "-": they go after "--", as for any CLI argument.
    revoke = ["keyset", "revoke", "api", "--reason", "leaked", "--database", db, "--", active]
    code, revoked = cli(revoke, env)
    assert code == 0
    assert [(t["kid"], t["new_state"]) for t in revoked] == [(active, "revoked")]
    assert key_states(db, env, "api")[active] is KeyState.REVOKED

    plain = run(["keyset", "show", "api", "--database", db], env=env)
    assert plain.exit_code == 0
    assert "\x1b[" not in plain.stdout
    lines = plain.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("kid "))
    assert lines[header].split() == [
        "kid", "state", "created", "published", "activated", "retired", "unpublished", "revoked"
    ]  # fmt: skip
    assert {line.split()[1] for line in lines[header + 1 : header + 4]} == {
        "revoked",
        "active",
        "pending",
    }
    assert f"revoked {active} at " in plain.stdout
    assert plain.stdout.rstrip().endswith(": leaked")


def test_local_policy_show_and_update(upgraded: str, env: dict[str, str]) -> None:
    db = upgraded
    assert cli(["keyset", "create", "api", "--issuer", ISS, "--database", db], env)[0] == 0
    code, shown = cli(["keyset", "policy", "api", "--database", db], env)
    assert (code, shown["updated"], shown["policy"]["rotation_period"]) == (0, False, 30 * 86400)
    update = ["keyset", "policy", "api", "--database", db, "--rotation-period", "14d"]
    update += ["--prepublish", "2d", "--max-token-ttl", "15m", "--jwks-max-age", "30m"]
    code, updated = cli(update, env)
    assert code == 0
    assert updated["policy"] == {
        "rotation_period": 14 * 86400,
        "prepublish": 2 * 86400,
        "prepublish_is_rotation_period": False,
        "max_token_ttl": 900,
        "jwks_max_age": 1800,
        "clock_skew": 60,
    }
    plain = run(["keyset", "policy", "api", "--database", db], env=env).stdout
    assert "rotation period: 14d" in plain
    assert "JWKS max-age:    30m" in plain
    bad = ["keyset", "policy", "api", "--database", db, "--jwks-max-age", "3d"]
    code, refused = cli(bad, env)
    assert (code, refused["error"]["code"]) == (2, "KW_POLICY_INVALID")
    code, typo = cli(["keyset", "policy", "api", "--database", db, "--prepublish", "2 days"], env)
    assert (code, typo["error"]["code"]) == (2, "usage")
    code, nope = cli(["keyset", "show", "nope", "--database", db], env)
    assert (code, nope["error"]["code"]) == (2, "KW_KEYSET_NOT_FOUND")


def test_development_kek_warning_goes_to_stderr(upgraded: str) -> None:
    result = run(["keyset", "list", "--database", upgraded, "--json"], env={})
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []
    assert "warning: DEVELOPMENT KEK in use" in result.stderr


def test_kek_rotate_rewraps_under_the_newest(upgraded: str, env: dict[str, str]) -> None:
    db = upgraded
    assert cli(["keyset", "create", "api", "--issuer", ISS, "--database", db], env)[0] == 0
    code, generated = cli(["kek", "generate", "--id", "new"], env)
    assert code == 0
    both = {"KEYWELL_KEKS": f"old:{env['KEYWELL_KEK']},new:{generated['key']}"}
    code, out = cli(["kek", "rotate", "--database", db], both)
    assert (code, out) == (0, {"rewrapped": 2, "kek_id": "new", "configured": ["old", "new"]})
    only_new = {"KEYWELL_KEKS": f"new:{generated['key']}"}
    issuer = Issuer(db, keks=KEKRing.from_env(only_new))
    try:
        issuer.check_ready()  # every active key opens without the old KEK
    finally:
        issuer.close()
    code, again = cli(["kek", "rotate", "--database", db], only_new)
    assert (code, again["rewrapped"]) == (0, 0)
    code, lost = cli(["kek", "rotate", "--database", db], {"KEYWELL_KEK": new_kek()})
    assert (code, lost["error"]["code"]) == (2, "KW_KEK")
    code, none = cli(["kek", "rotate", "--database", db], {})
    assert (code, none["error"]["code"]) == (2, "KW_KEK")
    assert "KEYWELL_KEKS" in run(["kek", "--help"]).stdout


def test_keyset_as_a_real_process(upgraded: str, env: dict[str, str]) -> None:
    full_env = {**os.environ, **env, "PYTHONWARNINGS": "error", "KEYWELL_DATABASE_URL": upgraded}
    full_env.pop("FORCE_COLOR", None)
    made = subprocess.run(
        [sys.executable, "-m", "keywell", "keyset", "create", "proc", "--issuer", ISS],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    listed = subprocess.run(
        [str(Path(sys.executable).with_name("keywell")), "keyset", "list", "--json"],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert [s["name"] for s in json.loads(listed.stdout)] == ["proc"]


# -- against a running server ---------------------------------------------------


@dataclass
class Live:
    base: str
    admin: str
    read: str
    db: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    """A real key server on a loopback port (uvicorn in a thread) over a SQLite file."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    db = f"sqlite:///{tmp_path / 'server.db'}"
    issuer = Issuer(db, keks=KEKRing.generate(), auto_upgrade=True)
    issuer.create_keyset("default", issuer=base)
    admin = issuer.create_admin_token(["admin"], name="cli-admin")
    read = issuer.create_admin_token(["read"], name="cli-read")
    config = ServerConfig(public_url=base, port=port, tick_interval=0.2, poll_interval=0.1)
    app = create_app(issuer, config, close_issuer=True)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, lifespan="on", log_config=None, access_log=False
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "server thread ended"
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    yield Live(base=base, admin=admin, read=read, db=db)
    server.should_exit = True
    thread.join(20)


def test_server_mode_end_to_end(live: Live) -> None:
    env = {"KEYWELL_TOKEN": live.admin}
    srv = ["--admin-url", live.base]
    code, sets = cli(["keyset", "list", *srv], env)
    assert (code, [s["name"] for s in sets]) == (0, ["default"])
    assert sets[0]["jwks_uri"] == f"{live.base}/.well-known/jwks.json"

    code, shown = cli(
        ["keyset", "create", "api", "--issuer", ISS, "--max-token-ttl", "30m", *srv], env
    )
    assert code == 0
    assert shown["keyset"]["policy"]["max_token_ttl"] == 1800
    active = next(k["kid"] for k in shown["keys"] if k["state"] == "active")

    code, deferred = cli(["keyset", "rotate", "api", *srv], env)
    assert (code, deferred["performed"]) == (3, False)  # the same exit code as locally
    published_before = {
        k["kid"] for k in httpx.get(f"{live.base}/keysets/api/jwks.json").json()["keys"]
    }
    code, rotated = cli(["keyset", "rotate", "api", "--emergency", *srv], env)
    assert (code, rotated["performed"]) == (0, True)
    assert rotated["warning"].startswith("emergency rotation")
    new_active = rotated["active_kid"]
    assert new_active in published_before - {active}  # invariant 5, through the admin API
    served = httpx.get(f"{live.base}/keysets/api/jwks.json").json()
    assert new_active in {k["kid"] for k in served["keys"]}
    assert len({k["kid"] for k in served["keys"]} - published_before) == 1  # a new successor

    code, revoked = cli(["keyset", "revoke", "api", "--reason", "drill", *srv, "--", active], env)
    assert (code, revoked[0]["new_state"]) == (0, "revoked")
    served = httpx.get(f"{live.base}/keysets/api/jwks.json").json()
    assert active not in {k["kid"] for k in served["keys"]}

    code, pol = cli(["keyset", "policy", "api", "--jwks-max-age", "10m", *srv], env)
    assert (code, pol["updated"], pol["policy"]["jwks_max_age"]) == (0, True, 600)
    assert pol["policy"]["max_token_ttl"] == 1800  # the other settings are kept

    plain = run(["keyset", "show", "api", *srv], env=env)
    assert plain.exit_code == 0
    assert f"JWKS:    {live.base}/keysets/api/jwks.json" in plain.stdout
    assert f"revoked {active} at " in plain.stdout


def test_server_mode_errors(live: Live) -> None:
    srv = ["--admin-url", live.base]
    code, forbidden = cli(["keyset", "rotate", "default", *srv, "--token", live.read], {})
    assert (code, forbidden["error"]["code"]) == (2, "KW_FORBIDDEN")
    assert live.read not in json.dumps(forbidden)
    code, unknown = cli(["keyset", "list", *srv, "--token", "kwa_not-a-token"], {})
    assert (code, unknown["error"]["code"]) == (2, "KW_UNAUTHORIZED")
    code, missing = cli(["keyset", "show", "nope", *srv], {"KEYWELL_TOKEN": live.admin})
    assert (code, missing["error"]["code"]) == (2, "KW_KEYSET_NOT_FOUND")
    code, no_token = cli(["keyset", "list", *srv], {})
    assert (code, no_token["error"]["code"]) == (2, "usage")
    code, plain_http = cli(
        ["keyset", "list", "--server", "http://example.com"], {"KEYWELL_TOKEN": "x"}
    )
    assert (code, plain_http["error"]["code"]) == (2, "usage")
    port = _free_port()
    code, down = cli(
        ["keyset", "list", "--server", f"http://127.0.0.1:{port}"], {"KEYWELL_TOKEN": "x"}
    )
    assert (code, down["error"]["code"]) == (2, "KW_CONNECTION")
