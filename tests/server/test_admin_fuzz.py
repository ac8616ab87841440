"""Fuzzed admin JSON bodies never get a 5xx, on SQLite and on PostgreSQL.

Hypothesis builds bodies for every admin route that takes one: arbitrary JSON
(nested, any type, lone surrogates, NUL) under the real member names and under
random ones, plus raw bytes that are not JSON or not UTF-8. Each goes to a real
``keywell serve``; the answer must be a success or a 4xx problem+json, and the
server log must hold no error line, no traceback and no SQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.server.hostile import served_on
from tests.server.serve_process import Served

pytestmark = pytest.mark.slow

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["\x00", "\ud800", "default", "https://issuer.test", "ES256", "yes", ""])
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_MEMBERS = [
    "name", "issuer", "alg", "policy", "rotation_period", "prepublish", "max_token_ttl",
    "jwks_max_age", "clock_skew", "emergency", "reason", "claims", "ttl",
]  # fmt: skip
_objects = st.dictionaries(st.sampled_from(_MEMBERS) | st.text(max_size=6), _json, max_size=5)
_bodies = (
    _objects.map(lambda d: json.dumps(d).encode())
    | _json.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=64)
)
ROUTES = [
    ("POST", "/admin/v1/keysets"),
    ("PUT", "/admin/v1/keysets/default/policy"),
    ("POST", "/admin/v1/keysets/default/rotate"),
    ("POST", "/admin/v1/keysets/default/keys/no-such-kid/revoke"),
    ("POST", "/admin/v1/keysets/default/tokens"),
]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Served, httpx.Client]]:
    with served_on(request.param, tmp_path_factory.mktemp(request.param)) as pair:
        yield pair


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(route=st.sampled_from(ROUTES), body=_bodies)
def test_fuzzed_admin_bodies_never_get_a_5xx(
    live: tuple[Served, httpx.Client], route: tuple[str, str], body: bytes
) -> None:
    server, client = live
    method, path = route
    headers = {**server.auth("admin"), "content-type": "application/json"}
    r = client.request(method, path, content=body, headers=headers)
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert r.headers["content-type"] == "application/problem+json"


def test_the_fuzzed_server_logged_no_error_and_no_sql(live: tuple[Served, httpx.Client]) -> None:
    server, client = live
    assert client.get("/readyz").status_code == 200
    log = server.log.read_text()
    assert '"level":"error"' not in log
    assert "Traceback" not in log
    assert "SELECT" not in log
    assert "INSERT" not in log
