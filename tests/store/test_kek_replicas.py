"""Real ``keywell serve`` replicas sharing one store, one of them with the wrong KEK.

Issue 11, area 1: a replica whose KEKs cannot open the store must never write
key material. Each test runs on a real PostgreSQL database and on a real
SQLite file; the servers are ``python -m keywell.cli.server_cmds serve``
processes (granian) on free loopback ports, with the KEK in the environment.
A short rotation period makes the good replica's scheduler rotate while the
test watches; every wait is bounded.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from keywell import JWKSet, Verifier
from keywell.issuer import Issuer
from keywell.jose.base64url import b64url_encode
from keywell.lifecycle import RotationPolicy
from keywell.store import KEKRing
from keywell.store import tables as t
from keywell.store.engine import make_engine
from keywell.store.kek import derive_kek_id
from tests.store.pgutil import fresh_database

pytestmark = pytest.mark.slow

ISS = "https://issuer.kek.test"
FAST = RotationPolicy(
    rotation_period=timedelta(seconds=3),
    max_token_ttl=timedelta(seconds=1),
    jwks_max_age=timedelta(seconds=1),
    clock_skew=timedelta(seconds=1),
)
GOOD, WRONG, NEXT = (secrets.token_bytes(32) for _ in range(3))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'keywell.db'}"
    else:
        with fresh_database() as url:
            yield url


def kek_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYWELL_")}
    return {**env, "KEYWELL_TICK_INTERVAL": "0.2", **values}


GOOD_ENV = {"KEYWELL_KEK": b64url_encode(GOOD), "KEYWELL_KEK_ID": "prod"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Replica:
    """A ``keywell serve`` process; ``wait_ready`` or ``wait_exit`` bound every wait."""

    def __init__(self, url: str, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.log = log
        self._out = log.open("wb")
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "keywell.cli.server_cmds", "serve", "--database", url),
                *("--host", "127.0.0.1", "--port", str(self.port), "--log-json"),
            ],
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.output()}")
            try:
                if self.http.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server not ready: {self.output()}")

    def wait_exit(self) -> int:
        try:
            return self.proc.wait(timeout=60)
        finally:
            self.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def close(self) -> None:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        if not self._out.closed:
            self._out.close()


def prepare(url: str) -> str:
    """The store, written under the good KEK ``prod``: one fast-rotating set; an admin token."""
    issuer = Issuer(url, keks=KEKRing([("prod", GOOD)]), auto_upgrade=True)
    try:
        issuer.create_keyset("default", issuer=ISS, policy=FAST)
        return issuer.create_admin_token(["admin"], name="kek-test")
    finally:
        issuer.close()


def key_rows(url: str) -> list[tuple[str, str | None, bytes | None]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(t.keys.c.kid, t.keys.c.kek_id, t.keys.c.private_ct).order_by(t.keys.c.id)
            ).all()
            conn.rollback()
    finally:
        engine.dispose()
    return [(r[0], r[1], None if r[2] is None else bytes(r[2])) for r in rows]


def mint(replica: Replica, admin: str) -> str:
    r = replica.http.post(
        "/admin/v1/keysets/default/tokens",
        json={"claims": {"sub": "svc", "aud": "api"}, "ttl": 1},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    jwks = JWKSet.from_json(replica.http.get("/.well-known/jwks.json").content)
    # A verifier of this set allows its clock skew: iat is whole seconds, so a 1 s
    # token minted late in a second is past exp a few ms later without it.
    skew = FAST.clock_skew.total_seconds()
    assert Verifier(jwks, issuer=ISS, audience="api", leeway=skew).verify(token)["sub"] == "svc"
    return token


def kid_of(token: str) -> str:
    header = token.split(".")[0]
    kid: str = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]
    return kid


WRONG_REPLICAS = {
    "wrong KEK": ({"KEYWELL_KEK": b64url_encode(WRONG)}, [derive_kek_id(WRONG)]),
    "same id, different bytes": (
        {"KEYWELL_KEK": b64url_encode(WRONG), "KEYWELL_KEK_ID": "prod"},
        ["prod"],
    ),
    "the old ring only": ({"KEYWELL_KEKS": f"old:{b64url_encode(WRONG)}"}, ["old"]),
}


def test_a_replica_with_a_wrong_kek_refuses_to_start_and_the_good_one_keeps_minting(
    store_url: str, tmp_path: Path
) -> None:
    admin = prepare(store_url)
    good = Replica(store_url, kek_env(**GOOD_ENV), tmp_path / "good.log")
    try:
        good.wait_ready()
        first_kid = kid_of(mint(good, admin))
        for name, (env, has) in WRONG_REPLICAS.items():
            wrong = Replica(store_url, kek_env(**env), tmp_path / f"{name}.log")
            assert wrong.wait_exit() == 2, name
            out = wrong.output()
            assert f"it has KEK ids {has}" in out, out
            assert "the store needs ['prod']" in out, out
            for secret in (GOOD, WRONG):
                assert b64url_encode(secret) not in out
            mint(good, admin)
        empty = Replica(store_url, kek_env(KEYWELL_KEK=""), tmp_path / "empty.log")
        assert empty.wait_exit() == 2
        assert "KEYWELL_KEK is set but empty" in empty.output()
        # The good replica rotates on schedule and mints with each new key.
        deadline = time.monotonic() + 30
        kids = {first_kid}
        while len(kids) < 3 and time.monotonic() < deadline:
            kids.add(kid_of(mint(good, admin)))
            time.sleep(0.2)
        assert len(kids) >= 3, "the good replica kept rotating and minting"
    finally:
        good.close()
    rows = key_rows(store_url)
    ring = KEKRing([("prod", GOOD)])
    assert {kek for _, kek, _ in rows} <= {"prod", None}  # nothing sealed under a wrong KEK
    for kid, _, blob in rows:
        if blob is not None:
            assert ring.open(blob, kek_id="prod", keyset="default", kid=kid)


def test_a_replica_left_behind_by_a_kek_rotation_stops_writing_and_is_not_ready(
    store_url: str, tmp_path: Path
) -> None:
    admin = prepare(store_url)
    behind = Replica(store_url, kek_env(**GOOD_ENV), tmp_path / "behind.log")
    ahead: Replica | None = None
    try:
        behind.wait_ready()
        mint(behind, admin)
        # Another replica's KEK rotation: the new KEK seals a new set's keys.
        rotated = Issuer(store_url, keks=KEKRing([("prod", GOOD), ("next", NEXT)]))
        rotated.create_keyset("second", issuer=ISS)
        rotated.close()
        deadline = time.monotonic() + 30
        while behind.http.get("/readyz").status_code != 503 and time.monotonic() < deadline:
            time.sleep(0.1)
        ready = behind.http.get("/readyz")
        assert (ready.status_code, ready.json()["code"]) == (503, "KW_KEK")
        # Two rotation periods: the left-behind scheduler seals nothing.
        count = len(key_rows(store_url))
        deadline = time.monotonic() + 30
        while "tick failed" not in behind.output() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2 * FAST.rotation_period.total_seconds())
        assert len(key_rows(store_url)) == count
        line = next(line for line in behind.output().splitlines() if "tick failed" in line)
        assert "it has KEK ids ['prod']" in line
        assert "the store needs ['prod', 'next']" in line
        assert json.loads(line)["code"] == "KW_KEK"
        # A replica with the rotated ring is ready, rotates and mints (under next).
        both = f"prod:{b64url_encode(GOOD)},next:{b64url_encode(NEXT)}"
        ahead = Replica(store_url, kek_env(KEYWELL_KEKS=both), tmp_path / "ahead.log")
        ahead.wait_ready()
        first = kid_of(mint(ahead, admin))
        deadline = time.monotonic() + 30
        while kid_of(mint(ahead, admin)) == first and time.monotonic() < deadline:
            time.sleep(0.2)
        assert kid_of(mint(ahead, admin)) != first
    finally:
        behind.close()
        if ahead is not None:
            ahead.close()
    rows = key_rows(store_url)
    assert len(rows) > count
    assert {kek for _, kek, _ in rows[count:]} <= {"next", None}
