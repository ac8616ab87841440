"""Admin-token rows: insert, find by hash, list, revoke (each with its audit event).

Only the SHA-256 of a token's secret is ever stored; the secret, its format
and the scope rules belong to :mod:`keywell.issuer.admin_tokens`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from keywell.errors import AdminTokenNotFoundError
from keywell.store import tables as t
from keywell.store.repository import Store

__all__ = ["find_token", "insert_token", "list_tokens", "revoke_tokens"]


def insert_token(
    store: Store,
    *,
    token_hash: str,
    name: str,
    scopes: str,
    now: datetime,
    expires: datetime | None,
    actor: str,
    reason: str,
) -> None:
    """Store a new token's hash and audit its creation, in one transaction."""
    with store.write() as conn:
        conn.execute(
            insert(t.admin_tokens).values(
                token_hash=token_hash,
                name=name,
                scopes=scopes,
                created_at=now,
                expires_at=expires,
                revoked=False,
            )
        )
        conn.execute(
            insert(t.audit).values(at=now, actor=actor, action="create_admin_token", reason=reason)
        )


def find_token(store: Store, token_hash: str) -> Any | None:
    """The token row whose secret hashes to ``token_hash``, or ``None``."""
    with store.read() as conn:
        return conn.execute(
            select(t.admin_tokens).where(t.admin_tokens.c.token_hash == token_hash)
        ).one_or_none()


def list_tokens(store: Store) -> list[Any]:
    """Every token row, oldest first."""
    with store.read() as conn:
        return list(conn.execute(select(t.admin_tokens).order_by(t.admin_tokens.c.id)).all())


def revoke_tokens(
    store: Store, name: str | None, token_id: int | None, *, actor: str, now: datetime
) -> int:
    """Revoke the token ``token_id`` (else those called ``name``); returns how many changed.

    Raises:
        AdminTokenNotFoundError: no token has ``token_id``.
    """
    where = (
        t.admin_tokens.c.id == token_id if token_id is not None else t.admin_tokens.c.name == name
    )
    with store.write() as conn:
        if token_id is not None and (
            conn.execute(select(t.admin_tokens.c.id).where(where)).one_or_none() is None
        ):
            raise AdminTokenNotFoundError(f"no admin token has id {token_id}")
        result = conn.execute(
            update(t.admin_tokens)
            .where(where, t.admin_tokens.c.revoked.is_(False))
            .values(revoked=True)
        )
        what = f"id {token_id}" if token_id is not None else repr(name)
        conn.execute(
            insert(t.audit).values(
                at=now, actor=actor, action="revoke_admin_token", reason=f"token {what}"
            )
        )
    return int(result.rowcount)
