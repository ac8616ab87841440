"""Custody keys across replicas, URIs and schema versions: what an attacker or chaos can cause.

* two custody URIs naming one backend (a set moved to it under another
  ``timeout``): each lists the other's keys, and reconciliation keeps every key
  a row names, whatever the URI;
* a replica reconciling with its clock ahead (or a spare waiting for the lock
  longer than the grace): the spare is destroyed before the commit and the
  transition makes another, never a row naming a destroyed key;
* a replica whose cached key was revoked (destroyed) by another signs with the
  new active key;
* a schema downgrade below custody is refused while backend keys are named.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from keywell.custody import parse_custody
from keywell.errors import CustodyError, KeySetError
from keywell.issuer import Issuer
from keywell.lifecycle import KeyState
from keywell.store.engine import make_engine
from keywell.store.migrate import downgrade_engine
from keywell.store.repository import Store
from tests.custody.contract import (
    DAY,
    ISS,
    POLICY,
    Clock,
    Custodian,
    live_refs,
    make_issuer,
    rows,
    verify_both,
)


def alias(uri: str, timeout: float) -> str:
    """The same backend under another URI: only the per-call timeout differs."""
    spec = parse_custody(uri)
    base, _, _ = spec.uri.partition("?")
    query = {**spec.query, "timeout": f"{timeout:g}"}
    return parse_custody(f"{base}?{'&'.join(f'{k}={v}' for k, v in query.items())}").uri


@pytest.mark.parametrize("moves", [1, 3])
def test_moving_between_uris_of_one_backend_never_reconciles_a_live_key(
    backend: Custodian, issuer: Issuer, url: str, clock: Clock, moves: int
) -> None:
    first = parse_custody(backend.uri).uri
    uris = [first, alias(first, 17), alias(first, 19)]
    issuer.create_keyset("api", issuer=ISS, policy=POLICY, custody=first)
    for i in range(moves):
        issuer.set_custody("api", uris[(i + 1) % len(uris)])
        clock.advance(DAY)
        issuer.tick()  # the next pending key is made under the new URI
    assert len({r.custody for r in rows(url, "api") if r.state not in ("expired", "revoked")}) >= 2
    live = live_refs(url, "api")
    assert backend.held("api") == live
    assert issuer.reconcile_custody("api", grace=timedelta(0)) == 0  # nothing is orphaned
    assert backend.held("api") == live
    for _ in range(2):  # every live key still signs once it is active
        active = next(k for k in issuer.keys("api") if k.state is KeyState.ACTIVE)
        verify_both(issuer, "api", issuer.sign("api", {}), clock)
        assert active.kid in issuer.jwks("api").body.decode()
        clock.advance(DAY)
        issuer.tick()


def test_a_replica_reconciling_with_a_clock_ahead_never_destroys_a_key_being_committed(
    backend: Custodian, issuer: Issuer, url: str, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Skew between replicas (or a lock wait longer than the grace) makes a spare look old.

    A second replica reconciles between this one's generate and its locked
    commit, with a grace of 0: what a clock 15 minutes ahead, or a spare
    that waited longer than the grace for the lock, amounts to.
    """
    issuer.create_keyset("api", issuer=ISS, policy=POLICY, custody=backend.uri)
    other = make_issuer(url, clock)
    real = Store.locked
    raced = []

    def reconciled_first(self: Store, name: str, now: object, **kw: object) -> object:
        if kw.get("spares") and not raced:
            raced.append(other.reconcile_custody(name, grace=timedelta(0)))
        return real(self, name, now, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "locked", reconciled_first)
    try:
        before = rows(url, "api")
        try:
            issuer.rotate("api", emergency=True)
        except CustodyError:
            assert rows(url, "api") == before  # refused, typed, nothing changed
            issuer.rotate("api", emergency=True)  # the next attempt makes fresh keys
        assert raced
        assert raced[0] >= 1
        assert backend.held("api") == live_refs(url, "api")  # every row's key exists
        verify_both(issuer, "api", issuer.sign("api", {}), clock)
        clock.advance(DAY)
        issuer.tick()  # the pending key made in the race activates and signs
        verify_both(issuer, "api", issuer.sign("api", {}), clock)
    finally:
        other.close()


@pytest.mark.parametrize("scheme", ["pkcs11", "transit"])  # moto signs with a key pending deletion
def test_a_replica_whose_cached_key_was_revoked_elsewhere_signs_with_the_new_active_key(
    request: pytest.FixtureRequest, url: str, clock: Clock, scheme: str
) -> None:
    handle = request.getfixturevalue(f"{scheme}_backend")
    uri = handle.fresh_uri()
    first, second = make_issuer(url, clock), make_issuer(url, clock)
    try:
        first.create_keyset("api", issuer=ISS, policy=POLICY, custody=uri)
        verify_both(second, "api", second.sign("api", {}), clock)  # its signer is cached
        active = next(k for k in first.keys("api") if k.state is KeyState.ACTIVE)
        first.revoke("api", active.kid, "leaked")  # destroyed in the backend at once
        token = second.sign("api", {})  # the backend refuses the cached key: reloaded
        claims = verify_both(second, "api", token, clock)
        assert claims["iss"] == ISS
        assert active.kid not in second.jwks("api").body.decode()
    finally:
        first.close()
        second.close()


def test_a_downgrade_below_custody_is_refused_while_backend_keys_are_named(
    backend: Custodian, issuer: Issuer, url: str, clock: Clock
) -> None:
    issuer.create_keyset("api", issuer=ISS, policy=POLICY, custody=backend.uri)
    before = rows(url, "api")
    engine = make_engine(url)
    try:
        with pytest.raises(KeySetError, match="cannot downgrade below 0004"):
            downgrade_engine(engine, "0003")
        assert rows(url, "api") == before  # nothing dropped: the refs are kept
        issuer.set_custody("api", "db")
        for _ in range(3):  # db keys take over; the custody keys expire and are destroyed
            clock.advance(DAY)
            issuer.tick()
        clock.advance(POLICY.max_token_ttl + POLICY.clock_skew)
        issuer.tick()
        assert backend.held("api") == set()
        issuer.close()
        downgrade_engine(engine, "0003")  # nothing names a backend key any more
    finally:
        engine.dispose()
