"""An unexpected error is a problem+json 500 with a request id; the log names its type, no SQL.

Issue 11 area 3: on PostgreSQL a driver error answered 500 and the server log
carried the traceback with the SQL statement and the caller's parameters. Here
a real ``keywell serve`` loses its tables under it (a real fault, no mock):
both the framework routes and the raw-ASGI mint path answer a 500 problem
naming a request id (also in ``X-Request-Id``), and the log holds one line
with the error type and that id, no traceback, no SQL, no parameters.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.serve_process import Served

pytestmark = pytest.mark.slow


@pytest.fixture
def broken(tmp_path: Path) -> Iterator[tuple[Served, httpx.Client]]:
    db = tmp_path / "kw.db"
    server = Served(f"sqlite:///{db}", tmp_path / "server.log")
    try:
        with sqlite3.connect(db) as conn:
            conn.execute("DROP TABLE keywell_audit")
            conn.execute("DROP TABLE keywell_keys")
        with httpx.Client(base_url=server.base, timeout=10) as client:
            yield server, client
    finally:
        server.stop()


def test_store_failures_are_500_problems_with_a_request_id_and_no_sql_in_the_log(
    broken: tuple[Served, httpx.Client],
) -> None:
    server, client = broken
    secret = "caller-parameter-7f3a"
    answers = [
        client.get(f"/admin/v1/audit?keyset=k{secret}", headers=server.auth("read")),
        client.get("/admin/v1/keysets/default/keys", headers=server.auth("read")),
        client.post(
            "/admin/v1/keysets/default/tokens",
            json={"claims": {"sub": secret}},
            headers=server.auth("sign"),
        ),
    ]
    ids = []
    for r in answers:
        assert r.status_code == 500, r.text
        assert r.headers["content-type"] == "application/problem+json"
        doc = r.json()
        assert doc["type"] == "urn:keywell:problem:internal"
        assert doc["request_id"] == r.headers["x-request-id"]
        assert secret not in r.text
        ids.append(doc["request_id"])
    assert len(set(ids)) == 3
    server.stop()
    lines = [
        json.loads(line) for line in server.log.read_text().splitlines() if line.startswith("{")
    ]
    errors = [line for line in lines if line["level"] == "error"]
    assert [e["request_id"] for e in errors] == ids  # one line per failure, in order
    assert {e["error_type"] for e in errors} == {"OperationalError"}
    text = server.log.read_text()
    for leak in ("Traceback", "SELECT", "keywell_audit", "[parameters", secret):
        assert leak not in text
