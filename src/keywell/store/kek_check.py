"""Proving that a process's KEK ring opens what the store holds (DESIGN.md invariant 7).

A process whose KEKs cannot open the keys already in the store must never
write key material: keys it sealed would be unreadable by every correctly
configured replica. Two things in the store say what a ring must hold:

* the KEK id of every live private key (``keywell_keys.kek_id`` where the
  private half is not destroyed);
* a *check value* per KEK id the store knows (``keywell_kek_checks``): a
  public constant sealed under that KEK, its id as associated data
  (:meth:`KEKRing.check_value`). It shows a wrong key under a known id even
  when no live key is left to try it on (every key expired), and it reveals
  nothing about the KEK.

The rule, written once in :func:`assess` (no I/O):

1. every KEK of the ring whose id has a check value must open it
   (same id, different bytes: refused);
2. the ring must hold every id the store *needs*: the ids sealing live keys,
   or, when there are none, the id most recently recorded (the KEK the
   replicas seal new keys with);
3. a needed id without a check value (a store written before check values
   existed) is proven by opening one of its keys, then recorded;
4. the ring's newest KEK, the one it seals new keys with, is recorded if the
   store does not know it yet (a KEK rotation introducing a new KEK).

:func:`verify_ring` applies it inside a transaction and records what rule 3
and 4 found; it runs when an Issuer opens the store and inside every
transaction that writes key material (new keys, rewrap), so a replica whose
ring another replica's KEK rotation left behind stops writing. Refusals are
:class:`~keywell.errors.KEKError` naming the KEK ids the process has and the
ids the store needs, never key bytes.

Introducing a KEK: give every replica the ring ``[old, new]``. A replica
still on ``[old]`` keeps working until the first key is sealed under ``new``,
then refuses to write and fails readiness until it gets the new ring. Limit:
a store written before check values existed whose keys are all destroyed
proves nothing; the first ring opening it is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Connection, func, insert, select, text

from keywell.errors import KEKError
from keywell.store import tables as t
from keywell.store.kek import KEKRing

__all__ = ["assess", "needed_ids", "unproven", "verify_ring"]

_PG_LOCK_ID = 0x6B65_6B63  # "kekc": serialises recording check values on PostgreSQL


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
) -> list[str]:
    """Apply the rule to one view of the store; return the KEK ids to record, in order.

    Args:
        ring: this process's KEKs.
        checks: the recorded check values by KEK id, oldest recorded first.
        live: the KEK ids sealing live private keys, in first-use order.
        opens: for needed ids without a check value, whether the ring opened
            one of their keys (ids absent here are reported by
            :func:`unproven`; :func:`verify_ring` fills it).

    Raises:
        KEKError: the ring lacks a needed id, or holds a wrong key under a known one.
    """
    has = set(ring.ids)
    needed = _needed(checks, live)
    missing = [k for k in needed if k not in has]
    wrong = [k for k in ring.ids if k in checks and not ring.matches_check(k, checks[k])]
    proofs = opens or {}
    wrong += [k for k in needed if k in has and k not in checks and proofs.get(k) is False]
    if missing or wrong:
        raise _refuse(ring, needed, missing, wrong)
    # the sealing KEK last: the most recently recorded id is the one replicas seal with
    record = [k for k in needed if k not in checks and k != ring.newest]
    if ring.newest not in checks:
        record.append(ring.newest)
    return record


def _needed(checks: Mapping[str, bytes], live: list[str]) -> list[str]:
    """The ids a ring must hold: those sealing live keys, else the last one recorded."""
    return list(live) if live else list(checks)[-1:]


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
    first_use = func.min(t.keys.c.id)
    live = [
        r.kek_id
        for r in conn.execute(
            select(t.keys.c.kek_id)
            .where(t.keys.c.private_ct.is_not(None), t.keys.c.kek_id.is_not(None))
            .group_by(t.keys.c.kek_id)
            .order_by(first_use)
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


def _assess_on(conn: Connection, ring: KEKRing) -> list[str]:
    checks, live = _read(conn)
    opens = {k: _opens_one_key(conn, ring, k) for k in unproven(ring, checks, live)}
    return assess(ring, checks, live, opens)


def verify_ring(
    conn: Connection, ring: KEKRing, *, now: datetime | None, record: bool
) -> list[str]:
    """Check ``ring`` against the store on ``conn``; with ``record``, store new check values.

    Returns the KEK ids recorded (with ``record``) or still to record (without).

    ``record`` needs a write transaction (``Store.write``); on PostgreSQL an
    advisory lock serialises concurrent recorders, which re-read under it.

    Raises:
        KEKError: the ring cannot open what the store needs (see the module docstring).
    """
    to_record = _assess_on(conn, ring)
    if not to_record or not record:
        return to_record
    if now is None:
        raise ValueError("recording check values needs the current time")
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
        to_record = _assess_on(conn, ring)  # another process may have recorded meanwhile
    for kek_id in to_record:
        conn.execute(
            insert(t.kek_checks).values(
                kek_id=kek_id, check_value=ring.check_value(kek_id), recorded_at=now
            )
        )
    return to_record
