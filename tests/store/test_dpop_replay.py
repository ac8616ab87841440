"""A DPoP proof is accepted once across processes sharing Redis or the database (RFC 9449 11.1).

Two real processes get the same requests and start together: every proof is
accepted by exactly one of them, the other refuses it as a replay. The SQL
store runs on a SQLite file and on a fresh PostgreSQL database; the Redis
store on the server at 127.0.0.1:6379 under a key prefix unique to the test.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from keywell import JWK, jwt
from keywell.errors import ReplayStoreError
from keywell.jose import RedisReplayStore, make_proof
from keywell.store import upgrade
from keywell.store.dpop_replay import SQLReplayStore
from tests.store.pgutil import fresh_database

REDIS_URL = "redis://127.0.0.1:6379/0"
URI = "https://api.example/x"
NOW = 1_800_000_000
ISSUER = JWK.generate("ES256", kid="i")
N = 40


def _requests() -> list[list[str]]:
    out = []
    for _ in range(N):
        client = JWK.generate("ES256")
        token = jwt.encode({"exp": NOW + 60, "cnf": {"jkt": client.thumbprint()}}, ISSUER)
        out.append([f"DPoP {token}", make_proof(client, "GET", URI, access_token=token, now=NOW)])
    return out


def _race(job: dict[str, Any]) -> list[list[str]]:
    job = {**job, "jwk": ISSUER.public().to_dict(), "now": NOW, "uri": URI, "requests": _requests()}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.store.dpop_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        for _ in range(2)
    ]
    try:
        for p in procs:
            assert p.stdin is not None
            p.stdin.write(json.dumps(job) + "\n")
            p.stdin.flush()
        for p in procs:
            assert p.stdout is not None
            assert p.stdout.readline().strip() == "ready"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        results = []
        for p in procs:
            out, _ = p.communicate(timeout=60)
            assert p.returncode == 0
            results.append(json.loads(out))
        return results
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()


def _assert_each_proof_accepted_once(results: list[list[str]]) -> None:
    for one, other in zip(*results, strict=True):
        assert sorted([one, other]) == ["DPoPReplayError", "ok"]


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = f"keywell-test-dpop-{secrets.token_hex(6)}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_two_processes_sharing_redis_accept_each_proof_once(redis_prefix: str) -> None:
    results = _race({"store": "redis", "target": REDIS_URL, "prefix": redis_prefix})
    _assert_each_proof_accepted_once(results)
    client = redis.Redis.from_url(REDIS_URL)
    ttls = [client.pttl(k) for k in client.scan_iter(match=redis_prefix + "*")]
    client.close()
    assert len(ttls) == N
    assert all(ttl > 0 for ttl in ttls)  # every entry expires


def test_two_processes_sharing_a_sqlite_file_accept_each_proof_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kw.db'}"
    upgrade(url)
    _assert_each_proof_accepted_once(_race({"store": "sql", "target": url}))


@pytest.mark.postgres
def test_two_processes_sharing_postgresql_accept_each_proof_once() -> None:
    with fresh_database() as url:
        upgrade(url)
        _assert_each_proof_accepted_once(_race({"store": "sql", "target": url}))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SQLReplayStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'kw.db'}"
        upgrade(url)
        store = SQLReplayStore(url, purge_every=3)
        yield store
        store.close()
        return
    with fresh_database() as url:
        upgrade(url)
        store = SQLReplayStore(url, purge_every=3)
        yield store
        store.close()


def test_the_sql_store_reuses_expired_rows_and_purges_them(sql_store: SQLReplayStore) -> None:
    assert sql_store.first_use("k1", 100.0, 10.0)
    assert not sql_store.first_use("k1", 100.0, 50.0)
    assert sql_store.first_use("k2", 20.0, 10.0)  # third insert: purges rows expired at 10
    assert sql_store.first_use("k1", 300.0, 150.0)  # expired at 100: a new first use
    assert not sql_store.first_use("k1", 300.0, 160.0)
    assert "postgres" not in repr(sql_store).split()[0]


def test_an_unreachable_store_is_a_typed_server_error(tmp_path: Path) -> None:
    dead = RedisReplayStore(redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1))
    with pytest.raises(ReplayStoreError) as info:
        dead.first_use("k", 10.0, 1.0)
    assert "127.0.0.1" not in info.value.message
    missing = SQLReplayStore(f"sqlite:///{tmp_path / 'empty.db'}")  # no schema: no table
    with pytest.raises(ReplayStoreError):
        missing.first_use("k", 10.0, 1.0)
    missing.close()
