"""Races and policy sequences of the Issuer found by the rotation simulation and a review.

Each test forces its interleaving with real stores (SQLite file, PostgreSQL). A
race that cannot be caused by timing alone is forced by pausing one call at the
exact point of the race (a wrapped loader or KEK ring), never by faking a result.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from keywell.issuer import Issuer
from keywell.jose.base64url import b64url_decode
from keywell.jose.jwk import JWK
from keywell.lifecycle import KeyState, RotationPolicy
from keywell.store import KEKRing
from tests.store.pgutil import fresh_database

T0 = datetime(2030, 1, 1, tzinfo=UTC)
ISS = "https://issuer.test"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def kid_of(token: str) -> str:
    return str(json.loads(b64url_decode(token.split(".")[0]))["kid"])


def active_kid(issuer: Issuer, name: str) -> str:
    return next(k.kid for k in issuer.keys(name) if k.state is KeyState.ACTIVE)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'keywell.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def test_a_signer_loaded_before_a_revoke_is_never_cached_after_it(db: str) -> None:
    """A sign() whose store read began before revoke() committed must not keep the old key."""
    issuer = Issuer(db, keks=KEKRing.generate(), auto_upgrade=True, sign_cache_ttl=60)
    try:
        issuer.create_keyset("main", issuer=ISS)
        old = active_kid(issuer, "main")
        loaded, resume = threading.Event(), threading.Event()
        real_loader = issuer._signers._loader
        calls = [0]

        def paused_loader(name: str, now: datetime) -> Any:
            entry = real_loader(name, now)
            calls[0] += 1
            if calls[0] == 1:  # the first load has read the old key: hold it there
                loaded.set()
                resume.wait(10)
            return entry

        issuer._signers._loader = paused_loader
        tokens: list[str] = []
        signer = threading.Thread(target=lambda: tokens.append(issuer.sign("main", {})))
        signer.start()
        assert loaded.wait(10)
        issuer.revoke("main", old, "leaked")  # commits while the load above is in flight
        resume.set()
        signer.join(10)
        assert tokens
        assert kid_of(tokens[0]) != old
        assert kid_of(issuer.sign("main", {})) != old
    finally:
        issuer.close()


def test_a_pending_key_gets_the_raised_ttl_cap_before_it_signs(db: str) -> None:
    """raise max_token_ttl -> rotate -> sign a long token -> lower: the key stays published."""
    clock = Clock()
    issuer = Issuer(db, keks=KEKRing.generate(), clock=clock, auto_upgrade=True)
    try:
        short = RotationPolicy(max_token_ttl=timedelta(hours=1))
        issuer.create_keyset("main", issuer=ISS, policy=short)
        issuer.update_policy("main", RotationPolicy(max_token_ttl=timedelta(hours=5)))
        clock.now += short.effective_prepublish
        assert issuer.rotate("main").performed  # the pending key (created under 1 h) signs
        signer = active_kid(issuer, "main")
        token = issuer.sign("main", {}, ttl=timedelta(hours=5))
        assert kid_of(token) == signer
        issuer.update_policy("main", short)
        issuer.rotate("main", emergency=True)
        retired = next(k for k in issuer.keys("main") if k.kid == signer)
        assert retired.state is KeyState.RETIRED
        assert retired.expires_at is not None
        assert retired.expires_at >= clock.now + timedelta(hours=5) + short.clock_skew
    finally:
        issuer.close()


@pytest.mark.postgres
def test_rewrap_never_writes_back_a_key_revoked_meanwhile(pg_url: str) -> None:
    """PostgreSQL: a revoke started during a rewrap (kek rotate) keeps its effect.

    The revoke waits for the rotation (the sealing KEK's advisory lock), then
    destroys the pending key and seals its successor under the new sealing KEK:
    no live key is left under the retired KEK.
    """
    old_key, new_key = secrets.token_bytes(32), secrets.token_bytes(32)
    old_ring = KEKRing([("old", old_key)])
    first = Issuer(pg_url, keks=old_ring, auto_upgrade=True)
    first.create_keyset("main", issuer=ISS)
    pending = next(k.kid for k in first.keys("main") if k.state is KeyState.PENDING)
    first.close()
    both = KEKRing([("old", old_key), ("new", new_key)])
    rewrapper = Issuer(pg_url, keks=both)
    revoker = Issuer(pg_url, keks=both)
    try:
        real_seal = both.seal
        revoked = [False]

        class Pausing:
            """The ring, revoking the pending key through another Issuer at the first seal."""

            def __getattr__(self, name: str) -> Any:  # ids, newest, open, check values
                return getattr(both, name)

            def seal(
                self, plaintext: bytes, *, keyset: str, kid: str, kek_id: str
            ) -> tuple[str, bytes]:
                if not revoked[0]:
                    revoked[0] = True
                    racer.start()  # waits for the rotation to commit
                return real_seal(plaintext, keyset=keyset, kid=kid, kek_id=kek_id)

        racer = threading.Thread(
            target=revoker.revoke, args=("main", pending, "leaked during rewrap")
        )
        rewrapper._store.keks = Pausing()  # type: ignore[assignment]
        count = rewrapper.rewrap()
        assert revoked[0]
        racer.join(timeout=60)
        assert not racer.is_alive()
        dsn = pg_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn) as conn:
            rows = conn.execute(
                "SELECT kid, state, private_ct IS NULL, kek_id FROM keywell_keys ORDER BY id"
            ).fetchall()
        by_kid = {kid: (state, gone, kek) for kid, state, gone, kek in rows}
        assert by_kid[pending] == ("revoked", True, None)
        live = [r for r in rows if r[1] != "revoked"]
        assert all(kek == "new" and not gone for _, _, gone, kek in live)
        assert len(live) == 2  # the active key and the successor the revocation created
        assert count == 2  # the rotation ran first: active and pending re-sealed, then revoked
    finally:
        rewrapper.close()
        revoker.close()


def test_successor_keys_are_generated_before_the_set_is_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Revoke, emergency and planned rotation: no key generation while the write lock is held."""
    path = tmp_path / "keywell.db"
    clock = Clock()
    issuer = Issuer(f"sqlite:///{path}", keks=KEKRing.generate(), clock=clock, auto_upgrade=True)
    locked_while_generating: list[str] = []
    probes: list[str] = []
    real_generate = JWK.generate.__func__  # type: ignore[attr-defined]

    def probing_generate(cls: type[JWK], alg: str, **kwargs: Any) -> JWK:
        probes.append(alg)
        probe = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")  # fails if a keywell transaction holds the lock
            probe.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            locked_while_generating.append(str(exc))
        finally:
            probe.close()
        return real_generate(cls, alg, **kwargs)  # type: ignore[no-any-return]

    try:
        issuer.create_keyset("main", issuer=ISS)
        monkeypatch.setattr(JWK, "generate", classmethod(probing_generate))
        issuer.revoke("main", active_kid(issuer, "main"), "leaked")
        issuer.rotate("main", emergency=True)
        clock.now += RotationPolicy().effective_prepublish
        assert issuer.tick()  # a planned rotation creating the next pending key
        issuer.create_keyset("second", issuer=ISS)
        assert len(issuer.keys("main")) == 5
        assert locked_while_generating == []
        # the probe really ran: revoke, emergency, the planned rotation and the new set's two keys
        assert len(probes) == 5
    finally:
        issuer.close()
