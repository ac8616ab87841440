"""The shared replay stores hold a proof while any process could still accept it (RFC 9449 11.1).

The same instants as tests/jose/test_dpop_replay_window.py on the SQL store
(a SQLite file and a fresh PostgreSQL database) and on Redis, where an entry
expires by the server's own clock: two processes whose clocks differ (by up
to the policy's leeway) share it, and the one behind must still find the
proof the other recorded when its own window is about to close.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest
import redis

from keywell.errors import DPoPReplayError
from keywell.jose import DPoPPolicy, RedisReplayStore
from keywell.store import upgrade
from keywell.store.dpop_replay import SQLReplayStore
from tests.jose.dpop_helpers import TOKEN, URI, good_proof
from tests.jose.test_dpop_replay_window import (
    END_OFFSETS,
    IATS,
    LEEWAY,
    MAX_AGE,
    NOW,
    SKEWS,
    WINDOW,
    _verifier,
    first_then_again,
)
from tests.store.pgutil import fresh_database

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def sql_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SQLReplayStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('replay') / 'kw.db'}"
        upgrade(url)
        store = SQLReplayStore(url)
        yield store
        store.close()
        return
    with fresh_database() as url:
        upgrade(url)
        store = SQLReplayStore(url)
        yield store
        store.close()


@pytest.mark.parametrize("iat", IATS, ids=str)
@pytest.mark.parametrize("skew", SKEWS, ids=str)
@pytest.mark.parametrize("end_offset", END_OFFSETS, ids=str)
def test_the_sql_store_refuses_a_replay_at_the_end_of_the_window(
    sql_store: SQLReplayStore, iat: float, skew: float, end_offset: float
) -> None:
    first_then_again(iat, NOW, iat + WINDOW + end_offset + skew, sql_store)


@pytest.fixture
def redis_store() -> Iterator[RedisReplayStore]:
    prefix = f"keywell-test-dpop-window-{secrets.token_hex(6)}:"
    client = redis.Redis.from_url(REDIS_URL)
    yield RedisReplayStore(client, prefix=prefix)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.mark.parametrize("behind", [1.0, 3.0, LEEWAY], ids=str)
def test_redis_holds_a_proof_for_a_process_whose_clock_is_behind(
    redis_store: RedisReplayStore, behind: float
) -> None:
    """Process A accepts a proof 0.2 s before its window closes; B's clock is ``behind``.

    Redis counts the entry's life from A's moment; B, half a second later (real
    time), is still inside the window by its own clock and must find the entry.
    """
    policy = DPoPPolicy(max_age=MAX_AGE, leeway=LEEWAY, replay=redis_store)
    proof = good_proof(iat=NOW)
    first_at = NOW + WINDOW - 0.2
    _verifier(policy, first_at).verify_request("GET", URI, f"DPoP {TOKEN}", proof)
    time.sleep(0.5)  # real time passes for Redis; no speed is asserted
    with pytest.raises(DPoPReplayError):
        _verifier(policy, first_at + 0.5 - behind).verify_request(
            "GET", URI, f"DPoP {TOKEN}", proof
        )
