"""A process whose KEKs cannot open the store never writes key material (DESIGN.md invariant 7).

The table runs every member of the kind on a real SQLite file and a real
PostgreSQL database: the store is written under the KEK ``main``, then opened
by a process holding another ring. Each member states what the open gets.
After a refusal, the store is unchanged and holds no row sealed under a KEK
the good ring lacks. A hypothesis test locks the rule itself.
"""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Executable, delete, func, select, update

from keywell.errors import KEKError
from keywell.issuer import Issuer
from keywell.jose.base64url import b64url_encode
from keywell.lifecycle import KeyState, RotationPolicy
from keywell.store import KEKRing
from keywell.store import tables as t
from keywell.store.engine import WRITE_OPTION, make_engine
from keywell.store.kek import DevelopmentKEKWarning, derive_kek_id
from keywell.store.kek_check import assess

ISS = "https://issuer.test"
MAIN, NEXT, WRONG = (secrets.token_bytes(32) for _ in range(3))
GOOD = KEKRing([("main", MAIN)])


def _rows(url: str) -> list[tuple[str, str, str | None, bytes | None]]:
    """Every key row, read with a bare engine (opening an Issuer could record a KEK)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(t.keys.c.kid, t.keys.c.state, t.keys.c.kek_id, t.keys.c.private_ct).order_by(
                    t.keys.c.id
                )
            ).all()
            conn.rollback()
    finally:
        engine.dispose()
    return [(r[0], r[1], r[2], None if r[3] is None else bytes(r[3])) for r in rows]


def _raw_write(url: str, statement: Executable) -> None:
    engine = make_engine(url)
    try:
        with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
            conn.execute(statement)
    finally:
        engine.dispose()


def _expire_everything(url: str) -> None:
    _raw_write(url, update(t.keys).values(state="expired", private_ct=None, kek_id=None))


def _forget_check_values(url: str) -> None:
    """As a store written before migration 0002 recorded anything."""
    _raw_write(url, delete(t.kek_checks))


def _rotate_kek_elsewhere(url: str, *, rewrap: bool) -> None:
    """Another replica starts with [main, next]: its new key set is sealed under ``next``."""
    other = Issuer(url, keks=KEKRing([("main", MAIN), ("next", NEXT)]))
    other.create_keyset("second", issuer=ISS)
    if rewrap:
        other.rewrap()
    other.close()


@dataclass(frozen=True)
class Member:
    name: str
    prepare: Callable[[str], None]
    ring: Callable[[], KEKRing]
    refused_for: str | None  # the kek_id the KEKError names; None: the open succeeds
    needs: str = ""


def _nothing(url: str) -> None:
    return None


MEMBERS = [
    Member(
        "wrong KEK", _nothing, lambda: KEKRing([(derive_kek_id(WRONG), WRONG)]), "main", "['main']"
    ),
    Member(
        "same id, different bytes", _nothing, lambda: KEKRing([("main", WRONG)]), "main", "['main']"
    ),
    Member(
        "a replica with an extra KEK the store does not know wrote keys (sealed under main)",
        lambda url: _rotate_kek_elsewhere(url, rewrap=False),
        lambda: GOOD,
        None,
    ),
    Member(
        "ring with the old KEK only (after the rewrap)",
        lambda url: _rotate_kek_elsewhere(url, rewrap=True),
        lambda: GOOD,
        "next",
        "['next']",
    ),
    Member(
        "all keys expired, wrong KEK", _expire_everything, lambda: KEKRing([("x", WRONG)]), "main"
    ),
    Member(
        "all keys expired, same id", _expire_everything, lambda: KEKRing([("main", WRONG)]), "main"
    ),
    Member("all keys expired, right KEK", _expire_everything, lambda: GOOD, None),
    Member(
        "all keys expired, old KEK only after a KEK rotation",
        lambda url: (_rotate_kek_elsewhere(url, rewrap=True), _expire_everything(url))[0],
        lambda: GOOD,
        "next",
        "['next']",
    ),
    Member("no check values yet, right KEK", _forget_check_values, lambda: GOOD, None),
    Member(
        "no check values yet, same id",
        _forget_check_values,
        lambda: KEKRing([("main", WRONG)]),
        "main",
    ),
    Member(
        "old ring while the new KEK has sealed nothing yet",
        lambda url: Issuer(url, keks=KEKRing([("main", MAIN), ("next", NEXT)])).close(),
        lambda: GOOD,
        None,
    ),
    Member(
        "KEK rotation begins: [main, next]",
        _nothing,
        lambda: KEKRing([("main", MAIN), ("next", NEXT)]),
        None,
    ),
]


@pytest.mark.parametrize("member", MEMBERS, ids=lambda m: m.name)
def test_each_member_of_the_kind_gets_its_answer(any_url: str, member: Member) -> None:
    first = Issuer(any_url, keks=GOOD, auto_upgrade=True)
    first.create_keyset("main", issuer=ISS)
    first.close()
    member.prepare(any_url)
    before = _rows(any_url)
    ring = member.ring()
    if member.refused_for is None:
        opened = Issuer(any_url, keks=ring)
        opened.check_ready()
        opened.create_keyset("more", issuer=ISS)  # may write key material
        opened.close()
        return
    with pytest.raises(KEKError) as info:
        Issuer(any_url, keks=ring)
    message = str(info.value)
    assert info.value.kek_id == member.refused_for
    assert info.value.code == "KW_KEK"
    assert f"it has KEK ids {list(ring.ids)!r}" in message
    assert f"the store needs {member.needs or [member.refused_for]!s}" in message
    for secret in (MAIN, NEXT, WRONG):
        assert b64url_encode(secret) not in message
        assert secret.hex() not in message
    assert _rows(any_url) == before  # nothing written


def test_a_fresh_store_records_the_first_ring_and_refuses_another(any_url: str) -> None:
    first = Issuer(any_url, keks=GOOD, auto_upgrade=True)  # no key set, no key: nothing to open
    with first._store.read() as conn:  # opening records nothing
        assert conn.execute(select(t.kek_checks.c.kek_id)).scalars().all() == []
    first.create_keyset("main", issuer=ISS)  # the first key material bootstraps the store
    with first._store.read() as conn:
        assert conn.execute(select(t.kek_checks.c.kek_id)).scalars().all() == ["main"]
    first.close()
    with pytest.raises(KEKError, match=r"needs \['main'\]"):
        Issuer(any_url, keks=KEKRing([("other", WRONG)]))
    Issuer(any_url, keks=GOOD).close()


def test_a_store_created_with_the_development_kek_refuses_an_environment_kek(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'keywell.db'}"
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.simplefilter("ignore", DevelopmentKEKWarning)
        for name in ("KEYWELL_KEK", "KEYWELL_KEKS", "KEYWELL_KEK_FILE", "KEYWELL_KEK_ID"):
            mp.delenv(name, raising=False)
        dev = Issuer(url, auto_upgrade=True)
        dev.create_keyset("main", issuer=ISS)
        dev_id = dev._store.keks.newest
        dev.close()
        mp.setenv("KEYWELL_KEK", b64url_encode(WRONG))
        with pytest.raises(KEKError) as info:
            Issuer(url)
    assert info.value.kek_id == dev_id
    assert f"the store needs {[dev_id]!r}" in str(info.value)
    assert f"it has KEK ids {[derive_kek_id(WRONG)]!r}" in str(info.value)


def test_a_running_process_left_behind_by_a_kek_rotation_writes_no_key_material(
    any_url: str,
) -> None:
    left = Issuer(any_url, keks=GOOD, auto_upgrade=True)
    policy = RotationPolicy(rotation_period=timedelta(hours=1), jwks_max_age=timedelta(minutes=5))
    left.create_keyset("main", issuer=ISS, policy=policy)
    active = next(k.kid for k in left.keys("main") if k.state is KeyState.ACTIVE)
    _rotate_kek_elsewhere(any_url, rewrap=True)  # kek rotate elsewhere: next seals everything
    before = _rows(any_url)
    refusals: list[Callable[[], object]] = [
        lambda: left.create_keyset("third", issuer=ISS),
        lambda: left.rotate("main", emergency=True),
        lambda: left.revoke("main", active, "compromised"),  # needs a new pending key
        left.rewrap,
        left.check_ready,
    ]
    for action in refusals:
        with pytest.raises(KEKError) as info:
            action()
        assert info.value.kek_id == "next"
    assert _rows(any_url) == before
    assert {kek for _, _, kek, _ in before if kek} == {"next"}
    # A transition without new key material is still allowed: revoking the pending key...
    pending = next(k.kid for k in left.keys("main") if k.state is KeyState.PENDING)
    with pytest.raises(KEKError):
        left.revoke("main", pending, "compromised")  # ...creates a successor: refused too
    with left._store.read() as conn:
        assert conn.execute(select(func.count()).select_from(t.keys)).scalar_one() == len(before)
    left.close()


KEYS = {"a": secrets.token_bytes(32), "b": secrets.token_bytes(32), "c": secrets.token_bytes(32)}
BAD = {k: secrets.token_bytes(32) for k in KEYS}
TRUE_RING = KEKRing(list(KEYS.items()))


@settings(max_examples=300, deadline=None)
@given(
    checked=st.lists(st.sampled_from(sorted(KEYS)), unique=True),
    live=st.lists(st.sampled_from(sorted(KEYS)), unique=True),
    held=st.lists(
        st.tuples(st.sampled_from(sorted(KEYS)), st.booleans()),
        min_size=1,
        unique_by=lambda p: p[0],
    ),
)
def test_the_rule_accepts_only_rings_that_open_everything_the_store_needs(
    checked: list[str], live: list[str], held: list[tuple[str, bool]]
) -> None:
    """Whatever the store and the ring, an accepted ring opens every live key with the
    right bytes, holds no wrong key under a known id, and seals only under the store's
    sealing KEK; a KEK the store does not know is recorded only to bootstrap an empty store."""
    ring = KEKRing([(k, KEYS[k] if right else BAD[k]) for k, right in held])
    checks = {k: TRUE_RING.check_value(k) for k in checked}
    right = dict(held)
    opens = {k: right[k] for k in live if k in right and k not in checks}
    stored = checked[-1] if checked else (live[-1] if live else None)
    needed = set(live) | ({stored} if stored else set())
    unsafe = any(k not in right or not right[k] for k in needed) or any(
        not right[k] for k in right if k in checks
    )
    if unsafe:
        with pytest.raises(KEKError) as info:
            assess(ring, checks, live, opens)
        assert info.value.kek_id in needed or info.value.kek_id in checks
        return
    verdict = assess(ring, checks, live, opens)
    assert all(k in right and right[k] for k in needed)
    assert all(right[k] for k in right if k in checks)
    assert verdict.sealing == (stored if stored else ring.newest)
    assert set(verdict.record) <= set(right)
    assert set(verdict.record) <= set(live) | set(checks) | ({ring.newest} if not stored else set())
    if verdict.record:
        assert verdict.record[-1] == verdict.sealing  # recorded last: stays the sealing KEK
    assert set(verdict.unknown) == set(right) - set(checks) - set(live) - {verdict.sealing}
