"""The custody contract when things go wrong, on each real backend (issue 14).

Backend down (typed error, store unchanged, readiness fails, JWKS still
served, the next tick after recovery succeeds), a refused credential (no set
is half-created, the credential appears nowhere), a key deleted behind
keywell's back, a custody move with rotation, orphans (one left by a process
killed with SIGKILL between generating and committing), a destroy that fails
and is retried, and exactly-once rotation with two Issuers on one SQLite file
and on PostgreSQL.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from keywell.custody import open_custody
from keywell.errors import CustodyError, KeySetNotFoundError
from keywell.issuer import Issuer
from keywell.lifecycle import KeyState
from keywell.store.kek import KEKRing
from tests.custody.contract import (
    DAY,
    ISS,
    POLICY,
    Clock,
    Custodian,
    credential_texts,
    live_refs,
    make_issuer,
    pending_destroys,
    rows,
    verify_both,
)
from tests.store.pgutil import fresh_database


def test_backend_down_is_typed_changes_nothing_and_the_next_tick_succeeds(
    backend: Custodian, issuer: Issuer, url: str, clock: Clock
) -> None:
    issuer.create_keyset("api", issuer=ISS, policy=POLICY, custody=backend.uri)
    issuer.check_ready()
    before, jwks = rows(url, "api"), issuer.jwks("api")
    clock.advance(DAY)  # a rotation is due: it needs a new key from the backend
    with backend.backend().down():
        for attempt in (issuer.tick, lambda: issuer.rotate("api", emergency=True)):
            with pytest.raises(CustodyError) as caught:
                attempt()
            assert caught.value.backend == backend.scheme
            assert caught.value.operation in {"generate", "open"}
            assert rows(url, "api") == before
        with pytest.raises(CustodyError):
            issuer.check_ready()  # /readyz: 503
        assert issuer.jwks("api") == jwks  # still served, from the store alone
        with pytest.raises(CustodyError):
            issuer.create_keyset("other", issuer=ISS, policy=POLICY, custody=backend.uri)
        with pytest.raises(KeySetNotFoundError):
            issuer.get_keyset("other")  # nothing half-created
    issuer.check_ready()
    done = issuer.tick()
    assert sorted(t.new_state.value for t in done) == ["active", "pending", "retired"]
    assert backend.held("api") == live_refs(url, "api")
    verify_both(issuer, "api", issuer.sign("api", {}), clock)


def test_a_refused_credential_is_typed_and_appears_nowhere(
    backend: Custodian,
    issuer: Issuer,
    url: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wrong = backend.backend().wrong_credential_uri()
    secrets = credential_texts(wrong)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CustodyError) as caught:
        issuer.create_keyset("api", issuer=ISS, policy=POLICY, custody=wrong)
    assert caught.value.backend == backend.scheme
    with pytest.raises(KeySetNotFoundError):
        issuer.get_keyset("api")
    issuer.create_keyset("ok", issuer=ISS, policy=POLICY, custody=backend.uri)
    with pytest.raises(CustodyError) as moved:
        issuer.set_custody("ok", wrong)
    assert issuer.get_keyset("ok").custody == backend.uri  # nothing changed
    outputs = [
        str(caught.value),
        repr(caught.value),
        str(moved.value),
        repr(open_custody(backend.uri)),
        repr(issuer),
        caplog.text,
        *capsys.readouterr(),
        Path(url.removeprefix("sqlite:///")).read_bytes().decode("latin-1"),
        *(repr(e) for e in issuer.history()),
    ]
    assert secrets, "the wrong-credential URI names a credential"
    for secret in secrets:
        for text in outputs:
            assert secret not in text


def test_a_key_deleted_out_of_band_fails_signing_typed_and_can_still_be_revoked(
    backend: Custodian, issuer: Issuer, url: str, clock: Clock
) -> None:
    issuer.create_keyset("api", issuer=ISS, policy=POLICY, custody=backend.uri)
    active = next(r for r in rows(url, "api") if r.state == "active")
    backend.backend().delete_out_of_band(backend.uri, active.custody_ref)
    if backend.scheme == "awskms":
        # moto finding 3 (tests/custody/test_awskms.py): moto still signs with a key
        # pending deletion, where AWS KMS answers KMSInvalidStateException (a CustodyError).
        verify_both(issuer, "api", issuer.sign("api", {}), clock)
    else:
        with pytest.raises(CustodyError) as caught:
            issuer.sign("api", {"sub": "x"})
        assert (caught.value.backend, caught.value.operation) == (backend.scheme, "sign")
    issuer.revoke("api", active.kid, "deleted from the HSM by an operator")
    assert active.kid not in issuer.jwks("api").body.decode()
    assert pending_destroys(url, "api") == []  # a key already gone is destroyed
    verify_both(issuer, "api", issuer.sign("api", {}), clock)
    assert backend.held("api") == live_refs(url, "api")


def test_a_custody_move_takes_effect_by_rotation_and_no_key_leaves_its_backend(
    backend: Custodian, issuer: Issuer, url: str, clock: Clock
) -> None:
    issuer.create_keyset("api", issuer=ISS, policy=POLICY)  # db custody
    moved = issuer.set_custody("api", backend.uri)
    assert moved.custody == backend.uri
    assert [r.custody for r in rows(url, "api")] == [None, None]  # existing keys stay
    event = issuer.history("api", limit=1)[0]
    assert (event.action, event.reason) == ("set_custody", f"db -> {backend.uri}")
    for _ in range(2):  # the db pending key signs, then the first backend key
        clock.advance(DAY)
        issuer.tick()
    clock.advance(POLICY.max_token_ttl + POLICY.clock_skew)
    issuer.tick()  # the db keys expire
    live = [r for r in rows(url, "api") if r.state not in ("expired", "revoked")]
    assert [r.custody for r in live] == [backend.uri] * len(live)
    assert all(r.private_ct is None for r in rows(url, "api"))  # db keys destroyed too
    active = next(k for k in issuer.keys("api") if k.state is KeyState.ACTIVE)
    assert active.custody == backend.uri
    verify_both(issuer, "api", issuer.sign("api", {}), clock)
    assert backend.held("api") == live_refs(url, "api")


def test_orphans_are_destroyed_once_older_than_the_grace(
    backend: Custodian, issuer: Issuer, url: str
) -> None:
    issuer.create_keyset("api", issuer=ISS, policy=POLICY, custody=backend.uri)
    opened = open_custody(backend.uri)
    assert opened is not None
    # what a process killed between generate and commit leaves behind
    orphan = opened.generate("ES256", keyset="api")
    assert backend.held("api") == live_refs(url, "api") | {orphan.ref}
    assert issuer.reconcile_custody("api") == 0  # younger than 15 minutes: maybe mid-commit
    assert orphan.ref in backend.held("api")
    assert issuer.reconcile_custody("api", grace=timedelta(0)) == 1
    assert backend.held("api") == live_refs(url, "api")
    assert [e.action for e in issuer.history("api", limit=1)] == ["custody_orphan_destroy"]
    assert issuer.reconcile_custody(grace=timedelta(0)) == 0  # the store's keys are kept


@contextmanager
def _sqlite(tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'shared.db'}"


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_two_issuers_on_one_database_rotate_exactly_once_and_leave_no_backend_key(
    backend: Custodian, tmp_path: Path, database: str
) -> None:
    shared = fresh_database() if database == "postgres" else _sqlite(tmp_path)
    with shared as url:
        clock, keks = Clock(), KEKRing.generate()
        first, second = make_issuer(url, clock, keks), make_issuer(url, clock, keks)
        try:
            first.create_keyset("api", issuer=ISS, policy=POLICY, custody=backend.uri)
            for _ in range(3):
                clock.advance(DAY)
                barrier = threading.Barrier(2)
                done: list[int] = []

                def tick(replica: Issuer, barrier: threading.Barrier, done: list[int]) -> None:
                    barrier.wait()
                    done.append(len(replica.tick()))

                threads = [
                    threading.Thread(target=tick, args=(r, barrier, done)) for r in (first, second)
                ]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(60)
                assert sorted(done)[0] == 0  # the other replica found nothing left to do
                assert sorted(done)[1] >= 3  # retire, activate, make a pending key
            states = [r.state for r in rows(url, "api")]
            assert len(states) == 2 + 3  # one new key per rotation, never two
            assert states.count("active") == 1
            assert states.count("pending") == 1
            assert backend.held("api") == live_refs(url, "api")
            assert pending_destroys(url, "api") == []
        finally:
            first.close()
            second.close()


def test_a_destroy_that_fails_stays_pending_and_the_next_tick_finishes_it(
    backend: Custodian, issuer: Issuer, url: str, clock: Clock
) -> None:
    issuer.create_keyset("api", issuer=ISS, policy=POLICY, custody=backend.uri)
    clock.advance(DAY)
    issuer.tick()  # the first key retires
    retired = next(r for r in rows(url, "api") if r.state == "retired")
    with backend.backend().down():
        issuer.revoke("api", retired.kid, "compromised")  # committed; the destroy fails
        assert retired.kid not in issuer.jwks("api").body.decode()
        assert pending_destroys(url, "api") == [retired.kid]
        assert issuer.tick() == []  # retried, still down: logged, still pending
        assert pending_destroys(url, "api") == [retired.kid]
    assert retired.custody_ref in backend.held("api")  # not yet destroyed
    issuer.tick()
    assert pending_destroys(url, "api") == []
    assert retired.custody_ref not in backend.held("api")
    assert [e.kid for e in issuer.history("api") if e.action == "custody_destroy"] == [retired.kid]


_KILLED_MID_ROTATION = """
import os, signal, sys
from keywell.issuer import Issuer
from keywell.store.kek import KEKRing
from keywell.store.repository import Store

def killed(*args, **kwargs):  # the fault: the process dies with its spares made, before the lock
    os.kill(os.getpid(), signal.SIGKILL)

Store.locked = killed
issuer = Issuer(sys.argv[1], keks=KEKRing.generate())
issuer.rotate("api", emergency=True)
"""


def test_a_process_killed_between_generate_and_commit_leaves_an_orphan_reconciled_later(
    backend: Custodian, issuer: Issuer, url: str, tmp_path: Path
) -> None:
    issuer.create_keyset("api", issuer=ISS, policy=POLICY, custody=backend.uri)
    before = rows(url, "api")
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_MID_ROTATION, url], capture_output=True, timeout=120
    )
    assert child.returncode == -9, child.stderr.decode()[-2000:]
    assert rows(url, "api") == before  # nothing committed
    orphans = backend.held("api") - live_refs(url, "api")
    assert len(orphans) == 1  # the emergency rotation's new pending key
    issuer.tick()  # reconciles, but the orphan is younger than the grace
    assert backend.held("api") - live_refs(url, "api") == orphans
    assert issuer.reconcile_custody("api", grace=timedelta(0)) == 1
    assert backend.held("api") == live_refs(url, "api")


def test_revocation_never_waits_for_a_backend_that_is_down(
    backend: Custodian, issuer: Issuer, url: str, clock: Clock
) -> None:
    issuer.create_keyset("api", issuer=ISS, policy=POLICY, custody=backend.uri)
    active, pending = issuer.keys("api")
    with backend.backend().down():
        done = issuer.revoke("api", active.kid, "leaked")  # no new pending key can be made
        assert [(t.kid, t.new_state) for t in done] == [
            (active.kid, KeyState.REVOKED),
            (pending.kid, KeyState.ACTIVE),
        ]
        assert active.kid not in issuer.jwks("api").body.decode()
        assert [k.state for k in issuer.keys("api")] == [KeyState.REVOKED, KeyState.ACTIVE]
        before = rows(url, "api")
        with pytest.raises(CustodyError):  # it would need a new *active* key: refused
            issuer.revoke("api", pending.kid, "leaked too")
        assert rows(url, "api") == before
    made = issuer.tick()  # back up: the missing pending key, and the pending destroy
    assert [t.new_state for t in made] == [KeyState.PENDING]
    assert pending_destroys(url, "api") == []
    assert backend.held("api") == live_refs(url, "api")
    verify_both(issuer, "api", issuer.sign("api", {}), clock)
