"""The simulation's processes: token minters and the key-table/JWKS monitor.

Each writes what it saw to a JSON file in the run directory when told to stop;
the analysis joins those files with the key timestamps read from the database.
Clock: every process reads ``time.time()`` of the same machine.
"""

from __future__ import annotations

import base64
import json
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import httpx

MINT_PATH = "/admin/v1/keysets/{name}/tokens"


def _b64json(part: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def token_facts(token: str) -> tuple[str, int, int]:
    """(kid, iat, exp) read from a compact JWT without verifying it (the verifiers do that)."""
    header, payload, _ = token.split(".")
    claims = _b64json(payload)
    return str(_b64json(header)["kid"]), int(claims["iat"]), int(claims["exp"])


def minter(
    index: int,
    base_url: str,
    secret: str,
    keyset: str,
    rate: float,
    queues: list[Queue[Any]],
    stop: Event,
    out: str,
) -> None:
    """Mint tokens through HAProxy at ``rate`` per second; hand each to every verifier."""
    tokens: list[tuple[int, str, int, int, float, float, str]] = []
    failures: list[tuple[float, str]] = []
    url = base_url + MINT_PATH.format(name=keyset)
    headers = {"Authorization": f"Bearer {secret}"}
    seq = 0
    period = 1.0 / rate
    next_at = time.time()
    with httpx.Client(timeout=5.0) as http:
        while not stop.is_set():
            seq += 1
            started = time.time()
            try:
                resp = http.post(url, json={"claims": {"sub": f"m{index}-{seq}"}}, headers=headers)
                done = time.time()
                if resp.status_code != 201:
                    failures.append((started, f"HTTP {resp.status_code}"))
                else:
                    token = resp.json()["token"]
                    kid, iat, exp = token_facts(token)
                    tid = index * 10_000_000 + seq
                    served = resp.headers.get("x-served-by", "?")
                    tokens.append((tid, kid, iat, exp, started, done, served))
                    for q in queues:
                        q.put((tid, token, exp))
            except httpx.HTTPError as exc:
                failures.append((started, type(exc).__name__))
            next_at += period
            delay = next_at - time.time()
            if delay > 0:
                time.sleep(delay)
            else:
                next_at = time.time()
    Path(out).write_text(json.dumps({"tokens": tokens, "failures": failures}))


def _active_counts(conn: Any) -> int:
    row = conn.execute(
        "SELECT count(*) FROM keywell_keys k JOIN keywell_keysets s ON s.id = k.keyset_id "
        "WHERE k.state = 'active' AND s.name = %s",
        ("default",),
    ).fetchone()
    return int(row[0])


def monitor(
    dsn: str,
    base_url: str,
    replica_urls: dict[str, str],
    secret: str,
    stop: Event,
    out: str,
    jwks_path: str,
) -> None:
    """Watch the number of active keys (table every 50 ms, admin API every 0.5 s) and what
    every replica serves (its JWKS, directly, every 100 ms; recorded when it changes)."""
    import psycopg

    table: list[tuple[float, int]] = []  # only samples where the count is not 1
    samples = 0
    max_active = 0
    min_active = 99
    api_samples: list[tuple[float, int]] = []
    served: dict[str, list[tuple[float, str, list[str]]]] = {n: [] for n in replica_urls}
    served_err: dict[str, int] = dict.fromkeys(replica_urls, 0)
    last_etag: dict[str, str] = {}
    conn = None
    next_api = next_jwks = time.time()
    with httpx.Client(timeout=0.25) as http:
        while not stop.is_set():
            now = time.time()
            try:
                if conn is None:
                    conn = psycopg.connect(dsn, autocommit=True, connect_timeout=2)
                n = _active_counts(conn)
                samples += 1
                max_active, min_active = max(max_active, n), min(min_active, n)
                if n != 1:
                    table.append((now, n))
            except psycopg.Error:
                conn = None  # killed by pg_terminate_backend: reconnect next round
            if now >= next_jwks:
                next_jwks = now + 0.1
                for name, url in replica_urls.items():
                    try:
                        resp = http.get(url + jwks_path)
                        etag = resp.headers.get("etag", "")
                        if resp.status_code == 200 and etag != last_etag.get(name):
                            last_etag[name] = etag
                            kids = [k["kid"] for k in resp.json()["keys"]]
                            served[name].append((time.time(), etag, kids))
                    except (httpx.HTTPError, ValueError):
                        served_err[name] += 1
            if now >= next_api:
                next_api = now + 0.5
                try:
                    resp = http.get(
                        f"{base_url}/admin/v1/keysets/default/keys",
                        headers={"Authorization": f"Bearer {secret}"},
                    )
                    if resp.status_code == 200:
                        n = sum(1 for k in resp.json() if k["state"] == "active")
                        api_samples.append((now, n))
                except httpx.HTTPError:
                    pass
            time.sleep(max(0.0, 0.05 - (time.time() - now)))
    if conn is not None:
        conn.close()
    Path(out).write_text(
        json.dumps(
            {
                "table_samples": samples,
                "table_max_active": max_active,
                "table_min_active": min_active,
                "table_not_one": table,
                "api_samples": api_samples,
                "served": served,
                "served_errors": served_err,
            }
        )
    )
