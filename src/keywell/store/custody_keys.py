"""Keys in a custody backend: made before the lock, destroyed after commit, orphans reconciled.

DESIGN.md invariant 8. A key set in an HSM/KMS custody stores, per key, the
custody URI and the backend's reference (``keywell_keys.custody``,
``custody_ref``) and the public JWK; never private material. The rules, each
written here once:

* **made before the lock** (:func:`make_spares`): the backend keys a
  transition needs are generated outside any transaction; if one of several
  fails, those already made are destroyed and the :class:`CustodyError` raised
  (nothing was written);
* **unused or rolled back, destroyed** (:func:`discard`): spares the locked
  transaction did not use (another replica already performed the transition),
  and every backend key of a transaction that rolled back, are destroyed once
  the transaction has ended, so exactly one replica's keys are kept;
* **destroyed after commit** (:func:`destroy_doomed`): a key that expires or
  is revoked keeps ``custody_ref`` in its committed row (its destruction is
  pending) and is destroyed in the backend only after the commit (a rolled-back
  transaction never loses a live key); success clears ``custody_ref`` and
  audits ``custody_destroy``; a failure leaves it pending for
  :func:`retry_destroys` on a later tick;
* **orphans** (:func:`reconcile`): a process killed between generating and
  committing leaves a backend key no row names; it is destroyed (audited
  ``custody_orphan_destroy``) once its name's UTC stamp
  (:func:`keywell.custody.base.key_name_time`) is older than a grace period, so
  a key another replica is still committing is never taken for one.

Backend failures are logged by code and message (a :class:`CustodyError`
names neither credential nor key material) and never raised over the
transaction's own outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Connection, insert, select, update

from keywell.custody.base import CustodyKey, key_name_time
from keywell.custody.proof import generate_proven
from keywell.custody.uri import DB, open_custody
from keywell.errors import CustodyError
from keywell.lifecycle import KeyState
from keywell.store import tables as t

if TYPE_CHECKING:
    from keywell.store.repository import Store

__all__ = [
    "BackendSpare",
    "Doomed",
    "custodies_in_use",
    "destroy_doomed",
    "discard",
    "make_spares",
    "reconcile",
    "retry_destroys",
]

log = logging.getLogger("keywell.custody")

#: How old an unnamed backend key must be before :func:`reconcile` destroys it.
ORPHAN_GRACE = timedelta(minutes=15)
_GONE = (KeyState.EXPIRED.value, KeyState.REVOKED.value)


@dataclass(frozen=True, slots=True)
class BackendSpare:
    """A key generated in the custody ``uri`` before the lock, not yet named by a row."""

    uri: str
    key: CustodyKey


@dataclass(frozen=True, slots=True)
class Doomed:
    """An expired or revoked custody key whose backend key is to be destroyed after commit."""

    keyset: str
    kid: str
    uri: str
    ref: str


def make_spares(
    uri: str, alg: str, *, keyset: str, rsa_bits: int, count: int
) -> list[BackendSpare]:
    """Generate ``count`` keys for ``alg`` in the custody ``uri`` (all or none).

    Raises:
        CustodyError: the backend refused or failed (keys already made are destroyed).
        InvalidInputError: ``uri`` is no custody URI.
    """
    if count == 0:  # nothing to make: the backend is not even opened
        return []
    custody = open_custody(uri)
    if custody is None:
        return []
    custody.check_algorithm(alg)
    made: list[BackendSpare] = []
    try:
        for _ in range(count):
            made.append(
                BackendSpare(uri, generate_proven(custody, alg, keyset=keyset, rsa_bits=rsa_bits))
            )
    except BaseException:
        discard(made)
        raise
    return made


def discard(spares: Iterable[BackendSpare]) -> None:
    """Destroy backend keys no committed row names (failures are left to :func:`reconcile`)."""
    for spare in spares:
        try:
            custody = open_custody(spare.uri)
            if custody is not None:
                custody.destroy(spare.key.ref)
        except CustodyError as exc:
            log.warning("unused custody key left for reconciliation: %s", exc)


def _audit(
    conn: Connection, action: str, *, at: datetime, keyset: str, kid: str | None, reason: str
) -> None:
    conn.execute(
        insert(t.audit).values(
            at=at,
            actor="system",
            keyset=keyset,
            kid=kid,
            action=action,
            reason=reason,
        )
    )


def destroy_doomed(store: Store, doomed: Sequence[Doomed], *, now: datetime) -> int:
    """Destroy expired/revoked keys in their backend, then clear their ``custody_ref``.

    Runs after the transition's commit. Returns how many were destroyed; a
    failure is logged and leaves the key pending (:func:`retry_destroys`).
    """
    count = 0
    for item in doomed:
        try:
            custody = open_custody(item.uri)
            if custody is not None:
                custody.destroy(item.ref)
        except CustodyError as exc:
            log.warning("custody destroy pending (retried on the next tick): %s", exc)
            continue
        with store.write() as conn:
            set_id = select(t.keysets.c.id).where(t.keysets.c.name == item.keyset)
            result = conn.execute(
                update(t.keys)
                .where(
                    t.keys.c.keyset_id == set_id.scalar_subquery(),
                    t.keys.c.kid == item.kid,
                    t.keys.c.custody_ref == item.ref,
                )
                .values(custody_ref=None)
            )
            if result.rowcount:
                scheme = item.uri.partition(":")[0]
                _audit(
                    conn,
                    "custody_destroy",
                    at=now,
                    keyset=item.keyset,
                    kid=item.kid,
                    reason=f"destroyed in {scheme} custody",
                )
                count += 1
    return count


def retry_destroys(store: Store, *, now: datetime) -> int:
    """Destroy every expired or revoked key whose backend destruction is still pending."""
    with store.read() as conn:
        rows = conn.execute(
            select(t.keysets.c.name, t.keys.c.kid, t.keys.c.custody, t.keys.c.custody_ref)
            .join(t.keysets, t.keysets.c.id == t.keys.c.keyset_id)
            .where(t.keys.c.custody_ref.is_not(None), t.keys.c.state.in_(_GONE))
            .order_by(t.keys.c.id)
        ).all()
    return destroy_doomed(
        store, [Doomed(r.name, r.kid, r.custody, r.custody_ref) for r in rows], now=now
    )


def custodies_in_use(conn: Connection) -> list[str]:
    """Every non-db custody URI a set makes keys in or a published key lives in."""
    uris = set(conn.execute(select(t.keysets.c.custody).distinct()).scalars())
    uris |= set(
        conn.execute(
            select(t.keys.c.custody)
            .where(t.keys.c.custody_ref.is_not(None), t.keys.c.state.not_in(_GONE))
            .distinct()
        ).scalars()
    )
    return sorted(u for u in uris if u and u != DB)


def _named(conn: Connection, set_id: int) -> set[str]:
    """The backend references the set's rows name, whatever custody URI each row has.

    By reference alone: two URIs may name one backend (a set moved to the same
    backend under another timeout, token file or host spelling), and each then
    lists the keys its alias made; a reference any row names is no orphan.
    """
    return set(
        conn.execute(
            select(t.keys.c.custody_ref).where(
                t.keys.c.keyset_id == set_id, t.keys.c.custody_ref.is_not(None)
            )
        ).scalars()
    )


def reconcile(store: Store, name: str, *, now: datetime, grace: timedelta = ORPHAN_GRACE) -> int:
    """Destroy backend keys of the set ``name`` that no row names and are older than ``grace``.

    The backends are listed first; the rows are read after, and read again
    under the set's lock before anything is destroyed. A replica proves its
    spares still held under that same lock before committing them
    (:class:`keywell.store.locked.LockedSet`), so a key is either named by a
    committed row and kept, or destroyed before that replica commits (it then
    makes another): safety does not rest on clocks. ``grace`` (wall-clock time
    against the UTC stamp in the key's name) only spares the keys of a
    transition in progress the cost of being made again. A key is named by its
    reference alone (two custody URIs may name one backend).

    Returns how many keys were destroyed (each audited ``custody_orphan_destroy``).

    Raises:
        CustodyError: a backend could not be listed (nothing was destroyed there).
    """
    with store.read() as conn:
        set_id, info = store.get_set(conn, name)
        uris = {info.custody} | set(
            conn.execute(
                select(t.keys.c.custody).where(t.keys.c.keyset_id == set_id).distinct()
            ).scalars()
        )
    held: dict[str, dict[str, str]] = {}
    for uri in sorted(u for u in uris if u and u != DB):
        custody = open_custody(uri)
        if custody is not None:
            held[uri] = custody.refs(name)
    cutoff = datetime.now(UTC) - grace
    candidates = [
        (uri, ref, key_name, made)
        for uri, refs in held.items()
        for ref, key_name in refs.items()
        if (made := key_name_time(key_name, name)) is not None and made <= cutoff
    ]
    with store.read() as conn:  # most sets have no orphan: no write lock is taken then
        named = _named(conn, set_id)
    if not any(ref not in named for _, ref, _, _ in candidates):
        return 0
    count = 0
    failed: CustodyError | None = None
    # Under the set's lock: a replica commits a key (its spare proven still held,
    # LockedSet) under the same lock, so either its row is read here and the key
    # kept, or the key is destroyed first and that replica makes another. Neither
    # clock skew between replicas nor a lock wait longer than the grace can make
    # a committed row name a destroyed key.
    with store.write() as conn:
        query = select(t.keysets.c.id).where(t.keysets.c.id == set_id)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        if conn.execute(query).one_or_none() is None:
            return 0
        named = _named(conn, set_id)
        for uri, ref, key_name, made in candidates:
            if ref in named:
                continue
            named.add(ref)  # listed by an alias URI too: destroyed and audited once
            custody = open_custody(uri)
            if custody is None:  # pragma: no cover - db never lists keys
                continue
            try:
                custody.destroy(ref)
            except CustodyError as exc:  # the keys destroyed so far stay audited
                failed = exc
                break
            _audit(
                conn,
                "custody_orphan_destroy",
                at=now,
                keyset=name,
                kid=None,
                reason=f"backend key {key_name} named by no key (made {made.isoformat()})",
            )
            count += 1
    if failed is not None:
        raise failed
    return count
