"""The store on a real SQLite file and a real PostgreSQL database.

Covers migrations, the one-active-key constraint, keys at rest (no private
value in the clear anywhere in the file or tables), KEK rotation end to end,
and a process killed with SIGKILL inside a transaction.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from keywell import JWKSet, jwt
from keywell.errors import KEKError
from keywell.issuer import Issuer
from keywell.jose.base64url import b64url_decode, b64url_encode
from keywell.lifecycle import KeyState
from keywell.store import KEKRing, SchemaError, upgrade
from keywell.store import tables as t
from tests.store.pgutil import dump_tables

ROOT = Path(__file__).resolve().parents[2]
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k")


def private_values(issuer: Issuer, keks: KEKRing) -> dict[str, list[str]]:
    """kid -> the base64url private members of every key that still has a private half."""
    out: dict[str, list[str]] = {}
    with issuer._store.read() as conn:
        rows = conn.execute(
            select(t.keysets.c.name, t.keys.c.kid, t.keys.c.private_ct, t.keys.c.kek_id)
            .join(t.keys, t.keys.c.keyset_id == t.keysets.c.id)
            .where(t.keys.c.private_ct.is_not(None))
        ).all()
    for row in rows:
        jwk = json.loads(
            keks.open(bytes(row.private_ct), kek_id=row.kek_id, keyset=row.name, kid=row.kid)
        )
        out[row.kid] = [jwk[m] for m in PRIVATE_MEMBERS if m in jwk]
    return out


def assert_absent(raw: bytes, secrets_by_kid: dict[str, list[str]]) -> None:
    assert secrets_by_kid
    for kid, values in secrets_by_kid.items():
        for value in values:
            assert value.encode() not in raw, f"base64url private member of {kid} found"
            decoded = b64url_decode(value)
            assert decoded not in raw, f"raw private member of {kid} found"
            assert decoded.hex().encode() not in raw, f"hex private member of {kid} found"


def test_an_unmigrated_database_is_refused_until_upgraded(any_url: str) -> None:
    keks = KEKRing.generate()
    with pytest.raises(SchemaError, match="keywell db upgrade") as info:
        Issuer(any_url, keks=keks)
    assert info.value.code == "KW_SCHEMA"
    upgrade(any_url)
    upgrade(any_url)  # idempotent
    issuer = Issuer(any_url, keks=keks)
    assert issuer.list_keysets() == []
    issuer.close()


def test_the_database_refuses_a_second_active_key(any_url: str) -> None:
    issuer = Issuer(any_url, keks=KEKRing.generate(), auto_upgrade=True)
    issuer.create_keyset("main", issuer="https://issuer.test")
    engine = issuer._store.engine
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(update(t.keys).where(t.keys.c.state == "pending").values(state="active"))
    assert [k.state for k in issuer.keys("main")].count(KeyState.ACTIVE) == 1
    issuer.close()


def test_no_private_key_in_the_clear_at_rest(any_url: str) -> None:
    keks = KEKRing.generate()
    issuer = Issuer(any_url, keks=keks, auto_upgrade=True)
    for alg in ("ES256", "EdDSA", "RS256", "HS256"):
        issuer.create_keyset(f"set-{alg.lower()}", issuer="https://issuer.test", alg=alg)
        issuer.sign(f"set-{alg.lower()}", {"sub": "alice"})
        issuer.rotate(f"set-{alg.lower()}", emergency=True)
    values = private_values(issuer, keks)
    assert len(values) == 12
    revoked_kid = next(iter(values))
    name = next(
        n
        for n in ("set-es256", "set-eddsa", "set-rs256", "set-hs256")
        if revoked_kid in {k.kid for k in issuer.keys(n)}
    )
    issuer.revoke(name, revoked_kid, "test: destroyed")
    assert revoked_kid not in private_values(issuer, keks)  # ciphertext deleted, not flagged
    issuer.close()
    if any_url.startswith("sqlite"):
        db = Path(any_url.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    else:
        raw = dump_tables(any_url)
    assert b"keywell" in raw or b"issuer.test" in raw  # the dump really holds the data
    assert_absent(raw, values)


def test_kek_rotation_end_to_end(any_url: str) -> None:
    old_key, new_key = os.urandom(32), os.urandom(32)
    issuer = Issuer(any_url, keks=KEKRing([("old", old_key)]), auto_upgrade=True)
    issuer.create_keyset("main", issuer="https://issuer.test", alg="ES256")
    issuer.create_keyset("hmac", issuer="https://issuer.test", alg="HS256")
    before = issuer.keys("main") + issuer.keys("hmac")
    issuer.close()

    # A wrong KEK: refused at open, naming the KEK needed, and nothing changes.
    with pytest.raises(KEKError) as info:
        Issuer(any_url, keks=KEKRing([("new", new_key)]))
    assert info.value.kek_id == "old"
    assert "['new']" in str(info.value)
    assert "['old']" in str(info.value)
    reader = Issuer(any_url, keks=KEKRing([("old", old_key)]))
    assert reader.keys("main") + reader.keys("hmac") == before
    reader.close()

    both = Issuer(any_url, keks=KEKRing([("old", old_key), ("new", new_key)]))
    assert both.rewrap() == 4
    assert both.history(None, limit=1)[0].action == "rewrap"
    assert both.rewrap() == 0
    both.close()

    # The old KEK removed: every key still signs, pending ones included.
    only_new = Issuer(any_url, keks=KEKRing([("new", new_key)]))
    only_new.check_ready()
    for name in ("main", "hmac"):
        only_new.sign(name, {"sub": "bob"})
        only_new.revoke(name, only_new.keys(name)[0].kid, "test: hand over to pending")
        only_new.sign(name, {"sub": "bob"})
    token = only_new.sign("main", {"n": 1})
    published = JWKSet.from_json(only_new.jwks("main").body)
    claims = jwt.decode(token, published, issuer="https://issuer.test", audience=None)
    assert claims["n"] == 1
    only_new.close()

    # The old KEK alone cannot open the keys now sealed under the new one: refused.
    with pytest.raises(KEKError) as info:
        Issuer(any_url, keks=KEKRing([("old", old_key)]))
    assert info.value.kek_id == "new"


def _spawn(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.store.worker", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _env(key: bytes) -> dict[str, str]:
    env = dict(os.environ)
    env["KEYWELL_KEK"] = b64url_encode(key)
    env["KEYWELL_KEK_ID"] = "test"
    env.pop("KEYWELL_KEK_FILE", None)
    env.pop("KEYWELL_KEKS", None)
    return env


def test_sigkill_mid_transaction_leaves_the_store_consistent(any_url: str) -> None:
    key = os.urandom(32)
    issuer = Issuer(any_url, keks=KEKRing([("test", key)]), auto_upgrade=True)
    issuer.create_keyset("main", issuer="https://issuer.test")
    before_keys = issuer.keys("main")
    before = issuer.get_keyset("main")
    before_jwks = issuer.jwks("main")
    issuer.close()

    child = _spawn("hang", any_url, "main", env=_env(key))
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line.strip() == "locked", child.stderr.read() if child.stderr else ""
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)  # reaps it and closes the pipes
    assert child.returncode == -signal.SIGKILL

    issuer = Issuer(any_url, keks=KEKRing([("test", key)]))
    assert issuer.keys("main") == before_keys  # the half-done rotation vanished
    assert issuer.get_keyset("main") == before
    assert issuer.jwks("main").etag == before_jwks.etag
    assert all(e.actor != "doomed" for e in issuer.history("main"))
    result = issuer.rotate("main", emergency=True)  # the lock is free again
    assert result.performed
    states = [k.state for k in issuer.keys("main")]
    assert states.count(KeyState.ACTIVE) == 1
    issuer.sign("main", {"sub": "after"})
    issuer.close()
