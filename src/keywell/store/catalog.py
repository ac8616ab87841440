"""Key-set rows beyond one locked set: create, list, versions, due sets, policy, history.

The issuer plans (with :mod:`keywell.lifecycle`) and calls these; every
statement on the ``keysets`` and ``audit`` tables that is not part of a
:class:`~keywell.store.repository.LockedSet` transaction lives here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime

from sqlalchemy import desc, select, update
from sqlalchemy.exc import IntegrityError

from keywell.errors import KeySetExistsError
from keywell.lifecycle import AuditEvent, KeyInfo, KeySetInfo, RotationPolicy
from keywell.lifecycle.names import known_name
from keywell.store import tables as t
from keywell.store.repository import LockedSet, Spare, Store
from keywell.store.rows import audit_event, keyset_info, policy_values

__all__ = [
    "create_set",
    "due_sets",
    "history",
    "list_sets",
    "set_custody",
    "set_issuer",
    "set_policy",
    "versions",
]


@contextmanager
def create_set(
    store: Store,
    name: str,
    *,
    issuer: str,
    alg: str,
    key_size: int | None,
    policy: RotationPolicy,
    now: datetime,
    spares: Sequence[Spare],
    custody: str = "db",
) -> Iterator[LockedSet]:
    """Insert a new set row and yield it locked (its first keys are applied by the caller).

    ``custody`` is the canonical custody URI its keys are made in. One
    transaction: if anything fails (a backend among them), no set is left and
    the spares are destroyed.

    Raises:
        KeySetExistsError: a set called ``name`` exists (nothing is written).
    """
    values = {
        "name": name,
        "issuer": issuer,
        "alg": alg,
        "key_size": key_size,
        "version": 0,
        "created_at": now,
        "updated_at": now,
        "custody": custody,
        **policy_values(policy),
    }
    try:
        with store.locked(name, now, spares=spares, insert=values) as locked:
            yield locked
    except IntegrityError as exc:
        raise KeySetExistsError(f"a key set named {name!r} already exists") from exc


def set_policy(locked: LockedSet, policy: RotationPolicy) -> None:
    """Store ``policy`` as the locked set's policy (its ``info`` follows)."""
    locked.conn.execute(
        update(t.keysets).where(t.keysets.c.id == locked.set_id).values(**policy_values(policy))
    )
    locked.info = replace(locked.info, policy=policy)


def set_issuer(locked: LockedSet, issuer: str) -> None:
    """Store ``issuer`` as the locked set's issuer URL (its ``info`` follows)."""
    locked.conn.execute(
        update(t.keysets).where(t.keysets.c.id == locked.set_id).values(issuer=issuer)
    )
    locked.info = replace(locked.info, issuer=issuer)


def set_custody(locked: LockedSet, custody: str) -> None:
    """Make ``custody`` (a canonical URI) where the locked set's next keys are made."""
    locked.conn.execute(
        update(t.keysets).where(t.keysets.c.id == locked.set_id).values(custody=custody)
    )
    locked.info = replace(locked.info, custody=custody)


def list_sets(store: Store) -> list[KeySetInfo]:
    """Every key set, by name."""
    with store.read() as conn:
        rows = conn.execute(select(t.keysets).order_by(t.keysets.c.name)).all()
    return [keyset_info(r) for r in rows]


def versions(store: Store) -> dict[str, int]:
    """Every set's version counter (bumped on every change of the set)."""
    with store.read() as conn:
        rows = conn.execute(select(t.keysets.c.name, t.keysets.c.version)).all()
    return {r.name: r.version for r in rows}


def due_sets(
    store: Store, due_at: Callable[[RotationPolicy, list[KeyInfo]], datetime | None], now: datetime
) -> list[str]:
    """The names of the sets whose next transition (``due_at``) is at or before ``now``."""
    due = []
    with store.read() as conn:
        for row in conn.execute(select(t.keysets)).all():
            at = due_at(keyset_info(row).policy, store.keys_of(conn, row.id))
            if at is not None and at <= now:
                due.append(row.name)
    return due


def history(
    store: Store,
    name: str | None = None,
    *,
    limit: int = 100,
    actor: str | None = None,
    action: str | None = None,
    before: int | None = None,
) -> list[AuditEvent]:
    """Audit events, newest first (of the set ``name``, or of everything).

    ``actor`` and ``action`` keep the events equal to them; ``before`` keeps
    those whose id is lower (the next page after the last id shown).

    Raises:
        KeySetNotFoundError: ``name`` is no valid key-set name (it names nothing).
        ValueError: ``limit`` or ``before`` is not an integer from 0 to 2**31 - 1.
    """
    for value, what in ((limit, "limit"), (before, "before")):
        if value is not None and (type(value) is not int or not 0 <= value < 2**31):
            raise ValueError(f"{what} must be an integer from 0 to 2**31 - 1")
    query = select(t.audit).order_by(desc(t.audit.c.id)).limit(limit)
    if name is not None:
        query = query.where(t.audit.c.keyset == known_name(name))
    if actor is not None:
        query = query.where(t.audit.c.actor == actor)
    if action is not None:
        query = query.where(t.audit.c.action == action)
    if before is not None:
        query = query.where(t.audit.c.id < before)
    with store.read() as conn:
        return [audit_event(r) for r in conn.execute(query).all()]
