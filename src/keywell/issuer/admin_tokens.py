"""Admin tokens, KEK rewrap and readiness: the store operations beside the lifecycle.

Admin tokens are 32 random bytes shown once; only their SHA-256 is stored,
so a database dump reveals no usable token. Each token has an id (the row's
number, for ``keywell admin-token revoke ID``), a fingerprint (the first 12
hex digits of that hash: the ``admin-token:...`` actor of its audit events)
and an expiry (90 days unless told; ``None`` only for tokens made before
migration 0002). An expired or revoked token authenticates nothing.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, text, update

from keywell.errors import AdminTokenNotFoundError
from keywell.jose.base64url import b64url_encode
from keywell.lifecycle import KeyState
from keywell.lifecycle.durations import MAX_DURATION
from keywell.store import tables as t
from keywell.store.repository import Store

__all__ = [
    "DEFAULT_TOKEN_TTL",
    "AdminTokenInfo",
    "admin_token_info",
    "check_admin_token",
    "check_ready",
    "create_admin_token",
    "list_admin_tokens",
    "revoke_admin_token",
    "rewrap",
]

_TOKEN_PREFIX = "kwa_"  # noqa: S105 - a public marker, not a secret
_SCOPE = re.compile(r"^[A-Za-z0-9:._*-]{1,64}$")
#: How long an admin token lives unless told otherwise.
DEFAULT_TOKEN_TTL = timedelta(days=90)


@dataclass(frozen=True, kw_only=True)
class AdminTokenInfo:
    """What may be shown about an admin token (never its secret).

    ``expires_at`` is ``None`` for a token without expiry (made before
    migration 0002); ``fingerprint`` is 12 hex digits of the secret's SHA-256;
    ``usable``: neither revoked nor expired when it was read.
    """

    id: int
    name: str
    scopes: tuple[str, ...]
    fingerprint: str
    created_at: datetime
    expires_at: datetime | None
    revoked: bool
    usable: bool


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _info(row: Any, now: datetime) -> AdminTokenInfo:
    expires = row.expires_at
    return AdminTokenInfo(
        id=row.id,
        name=row.name,
        scopes=tuple(row.scopes.split()),
        fingerprint=row.token_hash[:12],
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked=bool(row.revoked),
        usable=not row.revoked and (expires is None or now < expires),
    )


def create_admin_token(
    store: Store,
    scopes: Iterable[str],
    *,
    name: str,
    actor: str,
    now: datetime,
    ttl: timedelta | None = DEFAULT_TOKEN_TTL,
) -> str:
    """Create a token with ``scopes`` valid for ``ttl`` (``None``: never expires).

    The returned secret is never stored. Raises ValueError for bad scopes or
    a ``ttl`` that is not a positive duration of at most ten years.
    """
    scope_list = sorted(set(scopes)) if not isinstance(scopes, str) else None
    if not scope_list or not all(isinstance(s, str) and _SCOPE.match(s) for s in scope_list):
        raise ValueError("scopes must be a non-empty iterable of scope names like 'keys:read'")
    if ttl is not None and (
        not isinstance(ttl, timedelta) or not timedelta(0) < ttl <= timedelta(seconds=MAX_DURATION)
    ):
        raise ValueError("an admin token's ttl must be a timedelta between 1s and ten years")
    secret = _TOKEN_PREFIX + b64url_encode(secrets.token_bytes(32))
    expires = None if ttl is None else now + ttl
    with store.write() as conn:
        conn.execute(
            insert(t.admin_tokens).values(
                token_hash=_hash(secret),
                name=name,
                scopes=" ".join(scope_list),
                created_at=now,
                expires_at=expires,
                revoked=False,
            )
        )
        conn.execute(
            insert(t.audit).values(
                at=now,
                actor=actor,
                action="create_admin_token",
                reason=f"token {name!r} scopes {' '.join(scope_list)} "
                f"expires {'never' if expires is None else expires.isoformat()}",
            )
        )
    return secret


def admin_token_info(store: Store, secret: str, *, now: datetime) -> AdminTokenInfo | None:
    """The token whose secret is ``secret`` (revoked or expired included), or ``None``."""
    if not isinstance(secret, str) or not secret.startswith(_TOKEN_PREFIX):
        return None
    with store.read() as conn:
        row = conn.execute(
            select(t.admin_tokens).where(t.admin_tokens.c.token_hash == _hash(secret))
        ).one_or_none()
    return None if row is None else _info(row, now)


def check_admin_token(store: Store, secret: str, *, now: datetime) -> frozenset[str] | None:
    """The token's scopes, or ``None`` if it is unknown, revoked or expired at ``now``."""
    info = admin_token_info(store, secret, now=now)
    if info is None or not info.usable:
        return None
    return frozenset(info.scopes)


def list_admin_tokens(store: Store, *, now: datetime) -> list[AdminTokenInfo]:
    """Every admin token as of ``now``, oldest first (revoked and expired ones included)."""
    with store.read() as conn:
        rows = conn.execute(select(t.admin_tokens).order_by(t.admin_tokens.c.id)).all()
    return [_info(r, now) for r in rows]


def revoke_admin_token(
    store: Store,
    name: str | None = None,
    *,
    token_id: int | None = None,
    actor: str,
    now: datetime,
) -> int:
    """Revoke the token ``token_id``, or every token called ``name``; returns how many.

    Revoking a revoked token counts 0. Raises AdminTokenNotFoundError for an
    unknown ``token_id``, ValueError unless exactly one of the two is given.
    """
    if (name is None) == (token_id is None):
        raise ValueError("revoke an admin token by name or by id (exactly one)")
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


def rewrap(store: Store, *, actor: str, now: datetime) -> int:
    """Re-seal every stored private key under the newest KEK, in one transaction.

    The rows are read without locks; each is written only if it still holds
    the ciphertext read (same KEK, not destroyed). On PostgreSQL the UPDATE
    re-checks that condition on the latest committed row (READ COMMITTED), so a
    revocation or expiry committed meanwhile keeps its key destroyed.

    Raises:
        KEKError: a key cannot be opened; nothing was changed.
    """
    keks = store.keks
    count = 0
    with store.write() as conn:
        rows = conn.execute(
            select(
                t.keys.c.id, t.keys.c.kid, t.keys.c.private_ct, t.keys.c.kek_id, t.keysets.c.name
            )
            .join(t.keysets, t.keysets.c.id == t.keys.c.keyset_id)
            .where(t.keys.c.private_ct.is_not(None))
            .order_by(t.keys.c.id)
        ).all()
        for row in rows:
            if row.kek_id == keks.newest:
                continue
            plain = keks.open(
                bytes(row.private_ct), kek_id=row.kek_id, keyset=row.name, kid=row.kid
            )
            kek_id, blob = keks.seal(plain, keyset=row.name, kid=row.kid)
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
                reason=f"{count} key(s) re-sealed under KEK {keks.newest!r}",
            )
        )
    return count


def check_ready(store: Store) -> None:
    """The database answers and every active key decrypts (typed errors otherwise)."""
    with store.read() as conn:
        conn.execute(text("SELECT 1"))
        rows = conn.execute(
            select(t.keysets.c.name, t.keys.c.kid)
            .join(t.keys, t.keys.c.keyset_id == t.keysets.c.id)
            .where(t.keys.c.state == KeyState.ACTIVE.value)
        ).all()
        for row in rows:
            store.private_jwk(conn, row.name, row.kid)
