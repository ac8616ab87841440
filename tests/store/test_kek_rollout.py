"""A typo in a new KEK rolled out to one ``keywell serve`` replica (issue 11 area 1).

Two real replicas share one store (real PostgreSQL, real SQLite file): A
holds the store's KEK ``prod``, B holds ``prod`` plus a mistyped ``k2``. The
store names its sealing KEK, so B's ``k2`` is unknown to it: B seals nothing
under it, records nothing, and A stays ready and keeps rotating. The operator's
``keywell kek rotate`` with the real ``k2`` then makes ``k2`` the sealing KEK;
B's mistyped ``k2`` fails its check value, so B stops being ready and cannot
restart. Every wait is bounded; the servers bind free loopback ports.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from keywell.jose.base64url import b64url_encode
from tests.store.test_kek_replicas import (
    GOOD,
    GOOD_ENV,
    Replica,
    kek_env,
    key_rows,
    kid_of,
    mint,
    prepare,
    store_url,
)

pytestmark = pytest.mark.slow

__all__ = ["store_url"]  # the fixture, shared with the replicas test

TYPO, REAL = secrets.token_bytes(32), secrets.token_bytes(32)
PROD = f"prod:{b64url_encode(GOOD)}"


def _rotate_kek(url: str, k2: bytes) -> dict[str, object]:
    env = kek_env(KEYWELL_KEKS=f"{PROD},k2:{b64url_encode(k2)}")
    done = subprocess.run(
        [sys.executable, "-m", "keywell", "kek", "rotate", "--json", "--database", url],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out: dict[str, object] = json.loads(done.stdout)
    return out


def test_a_typo_in_a_new_kek_on_one_replica_never_takes_the_store_over(
    store_url: str, tmp_path: Path
) -> None:
    admin = prepare(store_url)
    typo_env = kek_env(KEYWELL_KEKS=f"{PROD},k2:{b64url_encode(TYPO)}")
    good = Replica(store_url, kek_env(**GOOD_ENV), tmp_path / "a.log")
    typo = Replica(store_url, typo_env, tmp_path / "b.log")
    ahead: Replica | None = None
    try:
        good.wait_ready()
        typo.wait_ready()
        assert "unknown to the store" in typo.output()
        kids = {kid_of(mint(good, admin))}
        deadline = time.monotonic() + 30
        while len(kids) < 3 and time.monotonic() < deadline:  # both schedulers rotate
            kids.add(kid_of(mint(good, admin)))
            kids.add(kid_of(mint(typo, admin)))
            time.sleep(0.2)
        assert len(kids) >= 3, "the replicas kept rotating and minting"
        assert good.http.get("/readyz").status_code == 200
        assert {kek for _, kek, _ in key_rows(store_url)} <= {"prod", None}
        # The operator's real k2, by the explicit act:
        assert _rotate_kek(store_url, REAL)["kek_id"] == "k2"
        deadline = time.monotonic() + 30
        while typo.http.get("/readyz").status_code != 503 and time.monotonic() < deadline:
            time.sleep(0.1)
        ready = typo.http.get("/readyz")
        assert (ready.status_code, ready.json()["code"]) == (503, "KW_KEK")
        restarted = Replica(store_url, typo_env, tmp_path / "b2.log")
        assert restarted.wait_exit() == 2
        assert "wrong key under a known id" in restarted.output()
        assert b64url_encode(TYPO) not in restarted.output()
        both = kek_env(KEYWELL_KEKS=f"{PROD},k2:{b64url_encode(REAL)}")
        ahead = Replica(store_url, both, tmp_path / "c.log")
        ahead.wait_ready()
        count = len(key_rows(store_url))
        first = kid_of(mint(ahead, admin))
        deadline = time.monotonic() + 30
        while kid_of(mint(ahead, admin)) == first and time.monotonic() < deadline:
            time.sleep(0.2)
        assert kid_of(mint(ahead, admin)) != first
    finally:
        good.close()
        typo.close()
        if ahead is not None:
            ahead.close()
    rows = key_rows(store_url)
    assert {kek for _, kek, _ in rows} <= {"k2", None}
    assert len(rows) > count
