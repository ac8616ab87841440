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
# any code point, and often one of the characters stores choke on (NUL, controls,
# DEL, C1, bidi overrides, lone surrogates) between plausible text
_hostile = st.sampled_from(["\x00", "\x01", "\x1b", "\x7f", "\x85", "\u202e", "\ud800", "\udfff"])
_text = st.text(st.characters(codec=None), max_size=20) | st.builds(
    lambda a, c, b: a + c + b,
    st.sampled_from(["", "https://issuer.test/", "z1"]),
    _hostile,
    st.text(max_size=5),
)
_policy = st.dictionaries(st.sampled_from(_MEMBERS[4:9]), _json, max_size=5)
_names = st.from_regex(r"\Az[a-z0-9]{1,12}\Z") | _text
# Per route: near-valid bodies (right members, hostile values: these would reach
# the store unless refused) and arbitrary ones (any JSON, or not JSON at all).
_SHAPED = {
    ("POST", "/admin/v1/keysets"): st.fixed_dictionaries(
        {"name": _names, "issuer": _text | st.just("https://issuer.test")},
        optional={"alg": _json, "policy": _policy | _json},
    ),
    ("PUT", "/admin/v1/keysets/default/policy"): _policy,
    ("POST", "/admin/v1/keysets/default/rotate"): st.fixed_dictionaries({"emergency": _json}),
    ("POST", "/admin/v1/keysets/default/keys/no-such-kid/revoke"): st.fixed_dictionaries(
        {"reason": _text | _json}
    ),
    ("POST", "/admin/v1/keysets/default/tokens"): st.fixed_dictionaries(
        {"claims": _objects | _json}, optional={"ttl": _json}
    ),
}
_anything = (
    _objects.map(lambda d: json.dumps(d).encode())
    | _json.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=64)
)
_requests = st.one_of(
    *(
        st.tuples(st.just(route), shaped.map(lambda d: json.dumps(d).encode()) | _anything)
        for route, shaped in _SHAPED.items()
    )
)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Served, httpx.Client]]:
    with served_on(request.param, tmp_path_factory.mktemp(request.param)) as pair:
        yield pair


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=_requests)
def test_fuzzed_admin_bodies_never_get_a_5xx(
    live: tuple[Served, httpx.Client], request: tuple[tuple[str, str], bytes]
) -> None:
    server, client = live
    (method, path), body = request
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
