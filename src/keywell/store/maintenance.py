"""Store-wide operations: re-sealing every private key under the newest KEK, readiness.

DESIGN.md invariants 4 and 7: a rewrap opens each key with the KEK that
sealed it and seals it again under the newest one, in one transaction; a key
destroyed meanwhile stays destroyed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, text, update

from keywell.lifecycle import KeyState
from keywell.lifecycle.names import check_label
from keywell.store import tables as t
from keywell.store.custody_keys import custodies_in_use
from keywell.store.kek_check import promote
from keywell.store.repository import Store

__all__ = ["check_ready", "rewrap"]


def rewrap(store: Store, *, actor: str, now: datetime) -> int:
    """Make the ring's newest KEK the store's sealing KEK and re-seal every key under it.

    One transaction (``keywell kek rotate``): :func:`~keywell.store.kek_check.promote`
    records the newest KEK's check value as the sealing KEK, then each key is re-sealed.

    The rows are read without locks; each is written only if it still holds
    the ciphertext read (same KEK, not destroyed). On PostgreSQL the UPDATE
    re-checks that condition on the latest committed row (READ COMMITTED), so a
    revocation or expiry committed meanwhile keeps its key destroyed.

    Raises:
        KEKError: a key cannot be opened, or the newest KEK is a retired one;
            nothing was changed.
        InvalidInputError: ``actor`` breaks the label rule.
    """
    check_label(actor, "actor")
    keks = store.keks
    count = 0
    with store.write() as conn:
        sealing = promote(conn, keks, keks.newest, now=now)
        rows = conn.execute(
            select(
                t.keys.c.id, t.keys.c.kid, t.keys.c.private_ct, t.keys.c.kek_id, t.keysets.c.name
            )
            .join(t.keysets, t.keysets.c.id == t.keys.c.keyset_id)
            .where(t.keys.c.private_ct.is_not(None))
            .order_by(t.keys.c.id)
        ).all()
        for row in rows:
            if row.kek_id == sealing:
                continue
            plain = keks.open(
                bytes(row.private_ct), kek_id=row.kek_id, keyset=row.name, kid=row.kid
            )
            kek_id, blob = keks.seal(plain, keyset=row.name, kid=row.kid, kek_id=sealing)
            # Only the ciphertext we read: a revoke or expiry committed since (which
            # destroyed it) or another rewrap must win, never be written back over.
            result = conn.execute(
                update(t.keys)
                .where(
                    t.keys.c.id == row.id,
                    t.keys.c.kek_id == row.kek_id,
                    t.keys.c.private_ct.is_not(None),
                )
                .values(private_ct=blob, kek_id=kek_id)
            )
            count += int(result.rowcount)
        conn.execute(
            insert(t.audit).values(
                at=now,
                actor=actor,
                action="rewrap",
                reason=f"{count} key(s) re-sealed under KEK {sealing!r}",
            )
        )
    return count


def check_ready(store: Store) -> list[str]:
    """The database answers and every active sealed key decrypts (typed errors otherwise).

    Returns the custody URIs in use (:func:`~keywell.store.custody_keys.custodies_in_use`),
    whose backends the caller checks.
    """
    with store.read() as conn:
        conn.execute(text("SELECT 1"))
        rows = conn.execute(
            select(t.keysets.c.name, t.keys.c.kid)
            .join(t.keys, t.keys.c.keyset_id == t.keysets.c.id)
            .where(t.keys.c.state == KeyState.ACTIVE.value, t.keys.c.custody.is_(None))
        ).all()
        for row in rows:
            store.private_jwk(conn, row.name, row.kid)
        return custodies_in_use(conn)
