"""Four OS processes ticking one PostgreSQL-backed set: each rotation happens exactly once.

A 1-second rotation policy, 20 seconds of ticking by 4 processes at once. The
due times form a chain (each rotation's due time is the previous activation +
rotation_period); the test checks that every due time that passed produced
exactly one rotation, none came early, none was performed twice, and the
database never held two active keys.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from keywell.issuer import Issuer
from keywell.jose.base64url import b64url_encode
from keywell.lifecycle import KeyState, RotationPolicy
from keywell.store import KEKRing
from keywell.store import tables as t

ROOT = Path(__file__).resolve().parents[2]
PERIOD = timedelta(seconds=1)
PROCESSES = 4
SECONDS = 20


@pytest.mark.postgres
@pytest.mark.slow
def test_four_processes_rotate_exactly_once_per_due_time(pg_url: str) -> None:
    key = os.urandom(32)
    issuer = Issuer(pg_url, keks=KEKRing([("test", key)]), auto_upgrade=True)
    policy = RotationPolicy(
        rotation_period=PERIOD,
        prepublish=PERIOD,
        max_token_ttl=PERIOD,
        jwks_max_age=PERIOD,
        clock_skew=timedelta(0),
    )
    issuer.create_keyset("fast", issuer="https://issuer.test", alg="EdDSA", policy=policy)
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
    most_active = 0
    with issuer._store.engine.connect() as conn:
        while any(c.poll() is None for c in children):
            count = conn.execute(
                select(func.count()).select_from(t.keys).where(t.keys.c.state == "active")
            ).scalar_one()
            conn.rollback()
            most_active = max(most_active, count)
            time.sleep(0.05)
    reports = []
    for child in children:
        out, err = child.communicate()
        assert child.returncode == 0, err
        reports.append(json.loads(out))
    assert most_active == 1

    last_tick = datetime.fromtimestamp(max(r["last_tick_start"] for r in reports), UTC)
    keys = issuer.keys("fast")
    activations = sorted(k.activated_at for k in keys if k.activated_at is not None)
    events = issuer.history("fast", limit=100_000)
    tick_events = [e for e in events if e.action == "tick"]
    rotations = [e for e in tick_events if e.new_state == KeyState.ACTIVE]

    # Every due time that passed produced one rotation, and the next is still ahead.
    assert len(rotations) == len(activations) - 1
    assert len(rotations) >= 1
    for earlier, later in itertools.pairwise(activations):
        assert later - earlier >= PERIOD  # never early
    assert activations[-1] + PERIOD > last_tick  # none missed
    # Exactly once: no transition of any key was performed twice.
    per_key = Counter((e.kid, e.old_state, e.new_state) for e in events)
    assert max(per_key.values()) == 1
    assert sum(r["transitions"] for r in reports) == len(tick_events)
    # One active key now; expired keys lost their private halves.
    assert [k.state for k in keys].count(KeyState.ACTIVE) == 1
    with issuer._store.read() as conn:
        leftovers = conn.execute(
            select(func.count())
            .select_from(t.keys)
            .where(t.keys.c.state.in_(["expired", "revoked"]), t.keys.c.private_ct.is_not(None))
        ).scalar_one()
    assert leftovers == 0
    assert any(k.state is KeyState.EXPIRED for k in keys)
    issuer.close()
