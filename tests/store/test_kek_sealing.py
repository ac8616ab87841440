"""The store, not the process, names the sealing KEK (issue 11 area 1, the attacker's finding).

Every member of the kind "a KEK the store has never seen takes the store
over" runs on a real SQLite file and a real PostgreSQL database. The store is
first written under the KEK ``main``; each member then acts with another ring
and states what it gets: which KEK sealed the new keys, which check values the
store holds, and which rings are refused afterwards.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import pytest
from sqlalchemy import delete, select

from keywell.errors import KEKError
from keywell.issuer import Issuer
from keywell.jose.base64url import b64url_encode
from keywell.store import KEKRing
from keywell.store import tables as t
from keywell.store.engine import WRITE_OPTION, make_engine

ISS = "https://issuer.test"
MAIN, REAL, TYPO, NEXT = (secrets.token_bytes(32) for _ in range(4))
GOOD = KEKRing([("main", MAIN)])


def _state(url: str) -> tuple[list[str], set[str]]:
    """(check value ids in recorded order, KEK ids sealing live keys), read with a bare engine."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            checks = conn.execute(
                select(t.kek_checks.c.kek_id).order_by(t.kek_checks.c.id)
            ).scalars()
            ids = list(checks)
            live = conn.execute(select(t.keys.c.kek_id).where(t.keys.c.private_ct.is_not(None)))
            sealing = set(live.scalars())
            conn.rollback()
    finally:
        engine.dispose()
    return ids, sealing


def _with(url: str, ring: KEKRing, name: str) -> None:
    issuer = Issuer(url, keks=ring)
    try:
        issuer.create_keyset(name, issuer=ISS)
        issuer.rotate(name, emergency=True)
    finally:
        issuer.close()


def _rotate_kek(url: str, ring: KEKRing) -> int:
    issuer = Issuer(url, keks=ring)
    try:
        return issuer.rewrap()
    finally:
        issuer.close()


def _refused(url: str, ring: KEKRing) -> str:
    with pytest.raises(KEKError) as info:
        Issuer(url, keks=ring).close()
    return str(info.value)


@pytest.fixture
def store(any_url: str) -> str:
    first = Issuer(any_url, keks=GOOD, auto_upgrade=True)
    first.create_keyset("main", issuer=ISS)
    first.close()
    return any_url


def test_a_typo_in_a_new_kek_on_one_replica_seals_nothing_and_records_nothing(store: str) -> None:
    _with(store, KEKRing([("main", MAIN), ("k2", TYPO)]), "typo")
    assert _state(store) == (["main"], {"main"})
    Issuer(store, keks=GOOD).close()  # the correctly configured replica still opens
    real = KEKRing([("main", MAIN), ("k2", REAL)])
    assert _rotate_kek(store, real) > 0  # the operator's real k2: kek rotate works
    assert _state(store) == (["main", "k2"], {"k2"})
    assert "wrong key under a known id" in _refused(store, KEKRing([("main", MAIN), ("k2", TYPO)]))
    assert "missing: ['k2']" in _refused(store, GOOD)


def test_a_command_that_only_reads_records_nothing(store: str) -> None:
    for key in (TYPO, REAL):
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEYWELL_")}
        env["KEYWELL_KEKS"] = f"main:{b64url_encode(MAIN)},prod-2027:{b64url_encode(key)}"
        listed = subprocess.run(
            [sys.executable, "-m", "keywell", "keyset", "list", "--json", "--database", store],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert listed.returncode == 0, listed.stderr
        assert [s["name"] for s in json.loads(listed.stdout)] == ["main"]
        assert "unknown to the store" in listed.stderr
        assert _state(store) == (["main"], {"main"})


def test_one_key_under_two_ids_is_refused_when_the_ring_is_built() -> None:
    key = b64url_encode(NEXT)
    for env in (
        {"KEYWELL_KEKS": f"old:{key}", "KEYWELL_KEK": key},
        {"KEYWELL_KEKS": f"old:{key},new:{key}"},
    ):
        with pytest.raises(KEKError, match="one KEK is configured under two ids") as info:
            KEKRing.from_env(env)
        assert key not in str(info.value)
        assert NEXT.hex() not in str(info.value)


def test_a_retired_kek_listed_last_never_seals_again(store: str) -> None:
    assert _rotate_kek(store, KEKRing([("main", MAIN), ("next", NEXT)])) == 2
    wrong_order = KEKRing([("next", NEXT), ("main", MAIN)])
    _with(store, wrong_order, "later")
    assert _state(store) == (["main", "next"], {"next"})
    with pytest.raises(KEKError, match="retired") as info:
        _rotate_kek(store, wrong_order)  # kek rotate cannot bring main back either
    assert info.value.kek_id == "main"
    assert _state(store) == (["main", "next"], {"next"})


def test_a_store_from_before_check_values_seals_under_the_kek_of_its_newest_key(
    store: str,
) -> None:
    engine = make_engine(store)
    try:
        with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
            conn.execute(delete(t.kek_checks))
    finally:
        engine.dispose()
    _with(store, KEKRing([("main", MAIN), ("stranger", TYPO)]), "more")
    assert _state(store) == (["main"], {"main"})  # proven by opening its keys, then recorded


def test_an_empty_store_is_bootstrapped_by_its_first_key_material(any_url: str) -> None:
    ring = KEKRing([("old", TYPO), ("first", MAIN)])
    Issuer(any_url, keks=ring, auto_upgrade=True).close()
    assert _state(any_url) == ([], set())  # opening records nothing
    _with(any_url, ring, "main")
    assert _state(any_url) == (["first"], {"first"})  # the ring's newest, explicitly
    assert "missing: ['first']" in _refused(any_url, KEKRing([("old", TYPO)]))
