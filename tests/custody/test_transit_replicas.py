"""Four OS processes ticking one PostgreSQL-backed set in Transit custody: no orphan key.

A 1-second rotation policy, 4 processes ticking at once for a few seconds:
every replica makes its spare keys in Transit outside the lock, and only one
of them commits each transition. OpenBao's audit log (the fixture's file
audit device) counts the keys Transit created: more than the store has rows,
so replicas did make keys for transitions another one performed. Afterwards
Transit holds exactly the keys the store names (``keywell_keys.custody_ref``):
those keys were destroyed, not leaked, and every expired key was destroyed in
Transit. Rotation stayed exactly once, as on the db custody
(``tests/store/test_concurrent_tick.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from keywell.custody import close_all, parse_custody
from keywell.issuer import Issuer
from keywell.jose.base64url import b64url_encode
from keywell.lifecycle import KeyState, RotationPolicy
from keywell.store import KEKRing
from keywell.store import tables as t
from tests.custody.backend_transit import TransitHandle
from tests.store.pgutil import fresh_database

ROOT = Path(__file__).resolve().parents[2]
PERIOD = timedelta(seconds=1)
PROCESSES = 4
SECONDS = 12


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def created_keys(audit_log: Path, mount: str, keyset: str) -> set[str]:
    """The Transit keys of ``keyset`` whose creation OpenBao's file audit device logged."""
    prefix = f"{mount}/keys/keywell-{keyset}-"
    writes = ("create", "update")  # a POST to keys/NAME (its config is keys/NAME/config)
    names = set()
    for line in audit_log.read_text().splitlines():
        entry = json.loads(line)
        request = entry.get("request", {})
        if entry.get("type") == "response" and request.get("operation") in writes:
            path = request.get("path", "")
            if path.startswith(prefix) and "/" not in path[len(prefix) :]:
                names.add(path[len(f"{mount}/keys/") :])
    return names


def named_refs(issuer: Issuer, keyset: str) -> dict[str, str]:
    """The store's custody refs of ``keyset`` -> the key's state."""
    with issuer._store.read() as conn:
        rows = conn.execute(
            select(t.keys.c.custody_ref, t.keys.c.state)
            .join(t.keysets, t.keysets.c.id == t.keys.c.keyset_id)
            .where(t.keysets.c.name == keyset, t.keys.c.custody_ref.is_not(None))
        ).all()
    return {ref: state for ref, state in rows}


@pytest.mark.postgres
@pytest.mark.slow
def test_four_replicas_leave_no_orphan_in_transit(
    pg_url: str, transit_backend: TransitHandle
) -> None:
    uri = transit_backend.fresh_uri()
    audit_log = transit_backend.bao.audit_log
    assert audit_log is not None
    key = os.urandom(32)
    issuer = Issuer(pg_url, keks=KEKRing([("test", key)]), auto_upgrade=True)
    policy = RotationPolicy(
        rotation_period=PERIOD,
        prepublish=PERIOD,
        max_token_ttl=PERIOD,
        jwks_max_age=PERIOD,
        clock_skew=timedelta(0),
    )
    issuer.create_keyset(
        "fast", issuer="https://issuer.test", alg="ES256", policy=policy, custody=uri
    )
    env = dict(os.environ, KEYWELL_KEK=b64url_encode(key), KEYWELL_KEK_ID="test")
    env.pop("KEYWELL_KEK_FILE", None)
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.store.worker", "tick", pg_url, str(SECONDS)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    reports = []
    for child in children:
        out, err = child.communicate(timeout=SECONDS + 120)
        assert child.returncode == 0, err[-3000:]
        reports.append(json.loads(out))

    keys = issuer.keys("fast")
    events = issuer.history("fast", limit=100_000)
    tick_events = [e for e in events if e.action == "tick"]
    rotations = [e for e in tick_events if e.new_state == KeyState.ACTIVE]
    assert len(rotations) >= 3  # the replicas really raced over several rotations
    # Exactly once: no transition of any key was performed twice.
    per_key = Counter((e.kid, e.old_state, e.new_state) for e in events)
    assert max(per_key.values()) == 1
    assert sum(r["transitions"] for r in reports) == len(tick_events)
    assert [k.state for k in keys].count(KeyState.ACTIVE) == 1
    assert any(k.state is KeyState.EXPIRED for k in keys)
    assert all(k.custody == uri for k in keys)

    # Replicas made keys for transitions another one performed...
    created = created_keys(audit_log, parse_custody(uri).attrs["mount"], "fast")
    assert len(created) > len(keys)
    # ...and no orphan: Transit holds exactly the keys the store names, and no more.
    named = named_refs(issuer, "fast")
    assert set(named) <= created
    assert transit_backend.held(uri, "fast") == set(named)
    # Every published key is among them; keys that expired were destroyed in Transit
    # (a destroy that failed would leave its ref named, and the key still held).
    published = {k.state for k in keys} & {KeyState.PENDING, KeyState.ACTIVE, KeyState.RETIRED}
    assert published
    assert {state for state in named.values()} <= {"pending", "active", "retired"}
    with issuer._store.read() as conn:
        private = conn.execute(select(t.keys.c.id).where(t.keys.c.private_ct.is_not(None))).all()
    assert private == []  # no private material in the store for a custody set
    issuer.close()
    close_all()
