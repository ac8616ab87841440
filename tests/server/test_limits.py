"""Limits in process: the failure throttle, the auth miss cache, metrics scopes, settings.

The throttle is a pure token bucket driven by a frozen clock; the cache is
checked against a real SQLite store by counting the SQL statements it runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from keywell.issuer import Issuer
from keywell.server import ServerConfig, create_app
from keywell.server.config import load_config
from keywell.server.limits import FailureThrottle
from keywell.server.metrics import Metrics
from tests.server.conftest import BASE, bearer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_throttle_allows_a_burst_then_refills_evenly() -> None:
    clock = Clock()
    throttle = FailureThrottle(limit=5, window=10.0, clock=clock)
    for _ in range(5):
        assert throttle.retry_after("10.0.0.1") == 0
        throttle.fail("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == pytest.approx(2.0)  # one failure per 2 s
    assert throttle.retry_after("10.0.0.2") == 0  # per address
    clock.now += 2.0
    assert throttle.retry_after("10.0.0.1") == 0
    throttle.fail("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == pytest.approx(2.0)
    clock.now += 60
    for _ in range(5):  # a full window later, a full burst again
        assert throttle.retry_after("10.0.0.1") == 0
        throttle.fail("10.0.0.1")


@settings(max_examples=200, deadline=None)
@given(
    limit=st.integers(1, 50),
    window=st.floats(0.5, 600),
    steps=st.lists(st.floats(0, 30), max_size=80),
)
def test_the_throttle_never_lets_more_failures_through_than_its_budget(
    limit: int, window: float, steps: list[float]
) -> None:
    """Failures admitted over any run <= limit + elapsed * limit / window."""
    clock = Clock()
    throttle = FailureThrottle(limit=limit, window=window, clock=clock)
    admitted, elapsed = 0, 0.0
    for advance in steps:
        clock.now += advance
        elapsed += advance
        while throttle.retry_after("a") == 0:  # an attacker uses every chance it gets
            throttle.fail("a")
            admitted += 1
        assert throttle.retry_after("a") > 0
    assert admitted <= limit + elapsed * limit / window + 1e-6


def test_the_throttle_remembers_a_bounded_number_of_addresses() -> None:
    clock = Clock()
    throttle = FailureThrottle(limit=2, window=60, clock=clock, max_addresses=10)
    for i in range(1000):
        throttle.fail(f"198.51.100.{i}")
        assert len(throttle._buckets) <= 10


@pytest.fixture
def statements(issuer: Issuer) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(*args: object) -> None:
        seen.append(str(args[2]))

    engine = issuer._store.engine
    event.listen(engine, "before_cursor_execute", count)
    yield seen
    event.remove(engine, "before_cursor_execute", count)


@pytest.mark.anyio
async def test_a_repeated_unknown_token_costs_one_store_lookup_then_none(
    issuer: Issuer, statements: list[str]
) -> None:
    config = ServerConfig(public_url=BASE, auth_cache_ttl=60)
    srv = create_app(issuer, config)
    async with srv.running():
        transport = httpx.ASGITransport(app=srv)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            statements.clear()
            for _ in range(10):
                r = await client.get("/admin/v1/keysets", headers=bearer("kwa_" + "x" * 40))
                assert r.status_code == 401
            lookups = [s for s in statements if "admin_tokens" in s]
            assert len(lookups) == 1


@pytest.mark.anyio
async def test_distinct_unknown_tokens_are_throttled_per_address_without_the_store(
    issuer: Issuer, statements: list[str]
) -> None:
    config = ServerConfig(public_url=BASE, auth_failure_limit=3, auth_failure_window=600)
    srv = create_app(issuer, config)
    async with srv.running():
        transport = httpx.ASGITransport(app=srv, client=("192.0.2.7", 5000))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            statements.clear()
            got = []
            for i in range(8):
                r = await client.get("/admin/v1/keysets", headers=bearer(f"kwa_{i:040d}"))
                got.append(r.status_code)
            assert got == [401, 401, 401, 429, 429, 429, 429, 429]
            assert r.headers["retry-after"] == "200"  # one failure per 600 s / 3
            assert r.headers["content-type"] == "application/problem+json"
            assert len([s for s in statements if "admin_tokens" in s]) == 3
            # missing and malformed credentials cost nothing and are not counted
            assert (await client.get(JWKS_PATH)).status_code == 200
        other = httpx.ASGITransport(app=srv, client=("192.0.2.8", 5000))
        async with httpx.AsyncClient(transport=other, base_url=BASE) as client:
            for _ in range(10):
                assert (await client.get("/admin/v1/keysets")).status_code == 401
                r = await client.get("/admin/v1/keysets", headers={"Authorization": "Basic x"})
                assert r.status_code == 401
    assert srv.state.metrics.auth_failures["throttled"] == 5


JWKS_PATH = "/.well-known/jwks.json"


@pytest.mark.anyio
async def test_unknown_tokens_from_a_shared_address_never_lock_out_a_vouched_token(
    issuer: Issuer, tokens: dict[str, str], statements: list[str]
) -> None:
    """Behind a proxy every caller shares one address: a flood of unknown tokens
    throttles the unknown tokens, never a token the store accepted recently,
    for reads or for minting (the attacker's finding against the first cut)."""
    issuer.create_keyset("api", issuer="https://issuer.example", alg="ES256")
    config = ServerConfig(
        public_url=BASE, auth_failure_limit=3, auth_failure_window=600, auth_cache_ttl=0.0
    )
    srv = create_app(issuer, config)
    admin = bearer(tokens["admin"])
    async with srv.running():
        transport = httpx.ASGITransport(app=srv, client=("192.0.2.9", 5000))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            assert (await client.get("/admin/v1/keysets", headers=admin)).status_code == 200
            got = []
            for i in range(6):
                r = await client.get("/admin/v1/keysets", headers=bearer(f"kwa_{i:040d}"))
                got.append(r.status_code)
            assert got == [401, 401, 401, 429, 429, 429]
            statements.clear()
            # the vouched token: served, and still checked against the store each time
            # (auth_cache_ttl=0), so a revocation still takes effect at once
            for _ in range(3):
                assert (await client.get("/admin/v1/keysets", headers=admin)).status_code == 200
            assert len([s for s in statements if "admin_tokens" in s]) == 3
            mint = await client.post(
                "/admin/v1/keysets/api/tokens", headers=admin, json={"claims": {"sub": "a"}}
            )
            assert mint.status_code == 201
            # a token never seen valid from this address is throttled like the flood
            fresh = bearer(issuer.create_admin_token(["read"], name="fresh"))
            assert (await client.get("/admin/v1/keysets", headers=fresh)).status_code == 429
            # once revoked, the vouched token loses its exemption
            token_id = next(t.id for t in issuer.list_admin_tokens() if t.name == "test-admin")
            issuer.revoke_admin_token(token_id=token_id)
            assert (await client.get("/admin/v1/keysets", headers=admin)).status_code == 401
            assert (await client.get("/admin/v1/keysets", headers=admin)).status_code == 429


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("scope", "status"),
    [(None, 401), ("read", 403), ("sign", 403), ("metrics", 200), ("admin", 200)],
)
async def test_metrics_on_the_main_port_need_the_metrics_scope(
    issuer: Issuer, scope: str | None, status: int
) -> None:
    issuer.create_keyset("private-hs", issuer="https://issuer.test", alg="HS256")
    headers = bearer(issuer.create_admin_token([scope], name="m")) if scope else {}
    srv = create_app(issuer, ServerConfig(public_url=BASE))
    async with srv.running():
        transport = httpx.ASGITransport(app=srv)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            r = await client.get("/metrics", headers=headers)
    assert r.status_code == status
    if status != 200:
        assert "private-hs" not in r.text
        assert r.headers["content-type"] == "application/problem+json"


def test_the_metrics_listener_filter_leaves_out_unnamed_sets() -> None:
    metrics = Metrics()
    metrics.count(metrics.tokens_minted, "private-hs")
    metrics.count(metrics.tokens_minted, "default")
    text = metrics.render({}, {}, named=lambda name: name == "default")
    assert 'keyset="default"' in text
    assert "private-hs" not in text


def test_limit_settings_come_from_file_env_and_flags(tmp_path: Path) -> None:
    file = tmp_path / "k.toml"
    file.write_text('[server]\nmax-connections = 100\nmetrics-address = "127.0.0.1:9464"\n')
    env = {"KEYWELL_HEADER_READ_TIMEOUT": "2.5", "KEYWELL_AUTH_CACHE_TTL": ""}
    cfg = load_config(file=file, env=env, body_read_timeout=3)
    assert (cfg.max_connections, cfg.metrics_address) == (100, "127.0.0.1:9464")
    assert (cfg.header_read_timeout, cfg.body_read_timeout) == (2.5, 3)
    assert cfg.auth_cache_seconds == cfg.staleness_bound == 0.25


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_connections": 0}, "max_connections"),
        ({"backlog": -1}, "backlog"),
        ({"header_read_timeout": 0}, "header_read_timeout"),
        ({"body_read_timeout": -1}, "body_read_timeout"),
        ({"auth_failure_limit": 0}, "auth_failure_limit"),
        ({"auth_failure_window": 0}, "auth_failure_window"),
        ({"auth_cache_ttl": -1}, "auth_cache_ttl"),
        ({"metrics_address": "nohost"}, "metrics_address"),
        ({"metrics_address": "h:99999"}, "metrics_address"),
        ({"metrics_address": "h:1", "workers": 2}, "workers = 1"),
    ],
)
def test_invalid_limit_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ServerConfig(**kwargs)  # type: ignore[arg-type]
