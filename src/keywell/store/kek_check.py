"""Proving that a process's KEK ring opens what the store holds (DESIGN.md invariant 7).

A process whose KEKs cannot open the keys already in the store must never
write key material: keys it sealed would be unreadable by every correctly
configured replica. The store, not the process, names the KEK that seals new
keys (the *sealing KEK*, Tink's "primary key id"); what the store records:

* the KEK id of every live private key (``keywell_keys.kek_id`` where the
  private half is not destroyed);
* a *check value* per KEK id the store knows (``keywell_kek_checks``): a
  public constant sealed under that KEK, its id as associated data
  (:meth:`KEKRing.check_value`). It shows a wrong key under a known id even
  when no live key is left to try it on, and it reveals nothing about the KEK.
  The most recently recorded one is the sealing KEK.

The rule, written once in :func:`assess` (no I/O):

1. every KEK of the ring whose id has a check value must open it
   (same id, different bytes: refused);
2. the ring must hold every id the store *needs*: the ids sealing live keys
   and the sealing KEK;
3. a needed id without a check value (a store written before check values
   existed) is proven by opening one of its keys, then recorded; such a
   store's sealing KEK is the one that sealed its newest live key;
4. a KEK the store does not know is never recorded and never seals, except
   by an explicit act: the bootstrap of an empty store (no check value, no
   live key: the ring's newest KEK becomes the sealing KEK) or
   :func:`promote` (``keywell kek rotate``). Unknown ids are reported
   (:attr:`Verdict.unknown`) so start-up can log them;
5. a retired KEK (known, not the sealing KEK) never becomes the sealing KEK again.

:func:`verify_ring` applies it inside a transaction; it runs when an Issuer
opens the store (never recording: reading records nothing), on readiness,
and inside every transaction that writes key material (new keys, rewrap), so
a replica whose ring a KEK rotation left behind stops writing. Refusals are
:class:`~keywell.errors.KEKError` naming the KEK ids the process has and the
ids the store needs, never key bytes.

Introducing a KEK: give every replica the ring ``[old, new]`` (the new one is
ignored until it is promoted), then run ``keywell kek rotate``: ``new``
becomes the sealing KEK and every key is re-sealed under it; a replica still
on ``[old]`` then refuses to write and fails readiness. Limit: a store
written before check values existed whose keys are all destroyed proves
nothing; it is bootstrapped like an empty store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select, text

from keywell.errors import KEKError
from keywell.store import tables as t
from keywell.store.kek import KEKRing

__all__ = ["Verdict", "assess", "hold_sealing", "needed_ids", "promote", "unproven", "verify_ring"]

_PG_LOCK_ID = 0x6B65_6B63  # "kekc": serialises recording check values on PostgreSQL


@dataclass(frozen=True)
class Verdict:
    """What the rule found for one ring against one view of the store.

    Attributes:
        sealing: the KEK id every process seals new keys under.
        record: KEK ids to (re)record, in order; the sealing KEK is recorded last.
        unknown: ring ids the store does not know (ignored: they never seal).
    """

    sealing: str
    record: list[str]
    unknown: list[str]


def _refuse(ring: KEKRing, needed: list[str], missing: list[str], wrong: list[str]) -> KEKError:
    parts = [
        "this process's KEKs cannot open the keys in the store, so it will not write key "
        f"material: it has KEK ids {list(ring.ids)}, the store needs {needed}"
    ]
    if missing:
        parts.append(f"missing: {missing}")
    if wrong:
        parts.append(f"wrong key under a known id (fails its check value or its keys): {wrong}")
    parts.append("configure the KEKs the store needs (KEYWELL_KEK, KEYWELL_KEKS, KEYWELL_KEK_FILE)")
    return KEKError("; ".join(parts), kek_id=(missing or wrong)[0])


def assess(
    ring: KEKRing,
    checks: Mapping[str, bytes],
    live: list[str],
    opens: Mapping[str, bool] | None = None,
) -> Verdict:
    """Apply the rule to one view of the store.

    Args:
        ring: this process's KEKs.
        checks: the recorded check values by KEK id, oldest recorded first
            (the last is the sealing KEK).
        live: the KEK ids sealing live private keys, the one sealing the
            newest live key last.
        opens: for needed ids without a check value, whether the ring opened
            one of their keys (ids absent here are reported by
            :func:`unproven`; :func:`verify_ring` fills it).

    Raises:
        KEKError: the ring lacks a needed id, or holds a wrong key under a known one.
    """
    has = set(ring.ids)
    stored = _stored(checks, live)
    needed = _needed(checks, live)
    missing = [k for k in needed if k not in has]
    wrong = [k for k in ring.ids if k in checks and not ring.matches_check(k, checks[k])]
    proofs = opens or {}
    wrong += [k for k in needed if k in has and k not in checks and proofs.get(k) is False]
    if missing or wrong:
        raise _refuse(ring, needed, missing, wrong)
    sealing = ring.newest if stored is None else stored  # None: an empty store, bootstrapped
    record = [k for k in live if k not in checks]  # proofs, the newest live key's KEK last
    if stored is None or (record and checks):
        record.append(sealing)  # the sealing KEK stays the most recently recorded
    unknown = [k for k in ring.ids if k not in checks and k not in live and k != sealing]
    return Verdict(sealing, record, unknown)


def _stored(checks: Mapping[str, bytes], live: list[str]) -> str | None:
    """The store's sealing KEK: the last one recorded, else the newest live key's (pre-0002)."""
    return list(checks)[-1] if checks else (live[-1] if live else None)


def _needed(checks: Mapping[str, bytes], live: list[str]) -> list[str]:
    """The ids a ring must hold: those sealing live keys, and the sealing KEK."""
    stored = _stored(checks, live)
    return list(live) + ([stored] if stored is not None and stored not in live else [])


def needed_ids(conn: Connection) -> list[str]:
    """The KEK ids a ring must hold to open the store on ``conn`` (none for an empty store)."""
    return _needed(*_read(conn))


def unproven(ring: KEKRing, checks: Mapping[str, bytes], live: list[str]) -> list[str]:
    """The live KEK ids the ring holds that have no check value yet (need a proof)."""
    return [k for k in live if k in ring.ids and k not in checks]


def _read(conn: Connection) -> tuple[dict[str, bytes], list[str]]:
    checks = {
        r.kek_id: bytes(r.check_value)
        for r in conn.execute(
            select(t.kek_checks.c.kek_id, t.kek_checks.c.check_value).order_by(t.kek_checks.c.id)
        )
    }
    last_use = func.max(t.keys.c.id)
    live = [
        r.kek_id
        for r in conn.execute(
            select(t.keys.c.kek_id)
            .where(t.keys.c.private_ct.is_not(None), t.keys.c.kek_id.is_not(None))
            .group_by(t.keys.c.kek_id)
            .order_by(last_use)
        )
    ]
    return checks, live


def _opens_one_key(conn: Connection, ring: KEKRing, kek_id: str) -> bool:
    row = conn.execute(
        select(t.keys.c.kid, t.keys.c.private_ct, t.keysets.c.name)
        .join(t.keysets, t.keysets.c.id == t.keys.c.keyset_id)
        .where(t.keys.c.kek_id == kek_id, t.keys.c.private_ct.is_not(None))
        .order_by(t.keys.c.id)
        .limit(1)
    ).one_or_none()
    if row is None:  # destroyed meanwhile: nothing to prove
        return True
    try:
        ring.open(bytes(row.private_ct), kek_id=kek_id, keyset=row.name, kid=row.kid)
    except KEKError:
        return False
    return True


def _assess_on(conn: Connection, ring: KEKRing) -> tuple[Verdict, dict[str, bytes]]:
    checks, live = _read(conn)
    opens = {k: _opens_one_key(conn, ring, k) for k in unproven(ring, checks, live)}
    return assess(ring, checks, live, opens), checks


def _store(conn: Connection, ring: KEKRing, ids: list[str], now: datetime) -> None:
    """(Re)record check values in order: the last id becomes the sealing KEK."""
    for kek_id in ids:
        conn.execute(delete(t.kek_checks).where(t.kek_checks.c.kek_id == kek_id))
        conn.execute(
            insert(t.kek_checks).values(
                kek_id=kek_id, check_value=ring.check_value(kek_id), recorded_at=now
            )
        )


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})


def hold_sealing(conn: Connection) -> None:
    """Keep the sealing KEK from changing until this write transaction ends.

    On PostgreSQL a shared advisory lock, taken first by every transaction
    that may write key material; :func:`promote` and recording take it
    exclusively, so a key is never sealed under a KEK that a concurrent
    ``kek rotate`` is retiring. SQLite's write lock serialises writers already.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock_shared(:id)"), {"id": _PG_LOCK_ID})


def verify_ring(conn: Connection, ring: KEKRing, *, now: datetime | None, record: bool) -> Verdict:
    """Check ``ring`` against the store on ``conn``; with ``record``, store what the rule found.

    Only a transaction about to write key material passes ``record``: it
    needs a write transaction (``Store.write``) and ``now``; on PostgreSQL an
    advisory lock serialises concurrent recorders, which re-read under it.
    Without ``record`` nothing is written (reading records nothing).

    Raises:
        KEKError: the ring cannot open what the store needs (see the module docstring).
    """
    verdict, _ = _assess_on(conn, ring)
    if not record:
        return verdict
    if not verdict.record:
        hold_sealing(conn)
        verdict, _ = _assess_on(conn, ring)  # a kek rotate may have committed meanwhile
        if not verdict.record:
            return verdict
    if now is None:
        raise ValueError("recording check values needs the current time")
    _lock(conn)
    verdict, _ = _assess_on(conn, ring)  # another process may have recorded meanwhile
    _store(conn, ring, verdict.record, now)
    return verdict


def promote(conn: Connection, ring: KEKRing, kek_id: str, *, now: datetime) -> str:
    """Make ``kek_id`` of ``ring`` the store's sealing KEK (``keywell kek rotate``); return it.

    The explicit act that introduces a KEK: the ring must pass the rule, then
    ``kek_id``'s check value is recorded last. Runs in a write transaction.

    Raises:
        KEKError: the ring fails the rule, lacks ``kek_id``, or ``kek_id`` is a
            retired KEK (known to the store, no longer its sealing KEK).
    """
    if kek_id not in ring.ids:
        raise KEKError(f"KEK {kek_id!r} is not configured", kek_id=kek_id)
    _lock(conn)
    verdict, checks = _assess_on(conn, ring)
    if kek_id != verdict.sealing and kek_id in checks:
        raise KEKError(
            f"KEK {kek_id!r} is retired (the store seals under {verdict.sealing!r}): a retired "
            "KEK never seals again; generate a new one (keywell kek generate)",
            kek_id=kek_id,
        )
    _store(conn, ring, [k for k in verdict.record if k != kek_id] + [kek_id], now)
    return kek_id
