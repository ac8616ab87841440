"""Issue 11 area 3: hostile names, kids, issuers and reasons never reach the store as a 500.

A table of hostile values (NUL, other C0 controls, DEL, C1, lone surrogates,
10 kB, homoglyphs, ``..``, ``/``, empty, whitespace, bidi and zero-width
characters, a trailing newline) × every place a client can put one (path
segments of admin and public routes, ``audit?keyset=``, JSON ``name``,
``issuer``, ``reason``), against the real server on a real SQLite file and the
real PostgreSQL. Each gets its exact status and problem type, and the log
holds no error line, no SQL and no parameters.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.hostile import segment, served_on
from tests.server.serve_process import Served

HOSTILE: dict[str, str] = {
    "nul": "\x00",
    "nul_suffix": "default\x00",
    "soh": "\x01",
    "escape_seq": "a\x1b[31mb",
    "tab": "a\tb",
    "newline_suffix": "default\n",
    "del": "a\x7f",
    "c1_nel": "a\x85",
    "lone_surrogate": "a\ud800",
    "long_10k": "a" * 10_000,
    "homoglyph": "d\u0435fault",  # Cyrillic e
    "dotdot": "..",
    "slash": "a/b",
    "empty": "",
    "space": " ",
    "bidi_override": "a\u202eb",
    "zero_width": "de\u200bfault",
}
NOT_FOUND = {"urn:keywell:problem:keyset_not_found", "urn:keywell:problem:not_found"}
KEY_NOT_FOUND = {"urn:keywell:problem:key_not_found", "urn:keywell:problem:not_found"}
INVALID = {"urn:keywell:problem:invalid_request", "urn:keywell:problem:invalid_input"}
# Values that are legitimate in that place (a reason may say "..") get the answer
# of the operation itself: the revoke of an unknown kid, the created set.
REASON_OK = {"homoglyph", "dotdot", "slash"}
ISSUER_PATH_OK = {"dotdot", "slash", "empty"}
SQL_MARKERS = ("SELECT", "INSERT", "UPDATE ", "[parameters", "psycopg", "sqlalchemy.exc")


def _cases(kid: str) -> Iterator[tuple[str, str, str, str, Any, int, set[str]]]:
    """(case id, method, path, scope, json body or None, status, problem types)."""
    for vid, value in HOSTILE.items():
        seg = segment(value)
        # admin tokens: a path no route declares (a "/" or an empty segment) is
        # disclosed as a 404 only to them (others get 403, see test_auth_table)
        for method, tail, scope, body in (
            ("GET", "", "admin", None),
            ("GET", "/keys", "admin", None),
            ("POST", "/rotate", "admin", {"emergency": False}),
            ("PUT", "/policy", "admin", {}),
            ("POST", "/tokens", "admin", {"claims": {}}),
            ("POST", f"/keys/{kid}/revoke", "admin", {"reason": "test"}),
        ):
            if vid == "empty" and not tail:
                continue  # /admin/v1/keysets/ is the collection itself
            path = f"/admin/v1/keysets/{seg}{tail}"
            yield f"path-name{tail or '/'}-{vid}", method, path, scope, body, 404, NOT_FOUND
        path = f"/admin/v1/keysets/default/keys/{seg}/revoke"
        yield f"path-kid-{vid}", "POST", path, "admin", {"reason": "t"}, 404, KEY_NOT_FOUND
        for path in (
            f"/keysets/{seg}/jwks.json",
            f"/keysets/{seg}/.well-known/openid-configuration",
            f"/.well-known/oauth-authorization-server/keysets/{seg}",
        ):
            yield f"public{path[:12]}-{vid}", "GET", path, "read", None, 404, NOT_FOUND
        path = f"/admin/v1/audit?keyset={seg}"
        yield f"query-keyset-{vid}", "GET", path, "read", None, 422, INVALID
        body = {"name": value, "issuer": "https://issuer.test"}
        yield f"json-name-{vid}", "POST", "/admin/v1/keysets", "admin", body, 422, INVALID
        body = {"name": f"iss-{vid}", "issuer": value}
        yield f"json-issuer-{vid}", "POST", "/admin/v1/keysets", "admin", body, 422, INVALID
        body = {"name": f"isspath-{vid}", "issuer": "https://issuer.test/" + value}
        ok = vid in ISSUER_PATH_OK
        yield (
            f"json-issuer-path-{vid}",
            "POST",
            "/admin/v1/keysets",
            "admin",
            body,
            201 if ok else 422,
            set() if ok else INVALID,
        )
        path = "/admin/v1/keysets/default/keys/no-such-kid/revoke"
        ok = vid in REASON_OK
        yield (
            f"json-reason-{vid}",
            "POST",
            path,
            "revoke",
            {"reason": value},
            404 if ok else 422,
            KEY_NOT_FOUND if ok else INVALID,
        )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Served, httpx.Client]]:
    with served_on(request.param, tmp_path) as pair:
        yield pair


def test_hostile_values_in_every_field_get_their_status_and_no_sql_in_the_log(
    live: tuple[Served, httpx.Client],
) -> None:
    server, client = live
    wrong: list[str] = []
    cases = list(_cases(server.kid))
    for case, method, path, scope, body, status, types in cases:
        headers = server.auth(scope)
        content = None
        if body is not None:
            # ensure_ascii: a lone surrogate travels as its \\ud800 escape
            content = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        r = client.request(method, path, content=content, headers=headers)
        problem = r.headers.get("content-type") == "application/problem+json"
        got_type = r.json()["type"] if problem else r.headers.get("content-type")
        if r.status_code != status or (types and got_type not in types):
            wrong.append(f"{case}: {r.status_code} {got_type} (want {status} {sorted(types)})")
        elif status >= 400:
            assert problem, case
    assert wrong == [], "\n".join(wrong)
    assert len(cases) > 200
    assert client.get("/readyz").status_code == 200
    log = server.log.read_text()
    assert '"level":"error"' not in log
    assert "Traceback" not in log
    for marker in SQL_MARKERS:
        assert marker not in log
