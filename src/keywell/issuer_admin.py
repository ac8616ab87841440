"""Admin tokens, KEK rewrap and readiness: the store operations beside the lifecycle.

Admin tokens are 32 random bytes shown once; only their SHA-256 is stored,
so a database dump reveals no usable token.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import insert, select, text, update

from keywell.jose.base64url import b64url_encode
from keywell.lifecycle import KeyState
from keywell.store import tables as t
from keywell.store.repository import Store

__all__ = ["check_admin_token", "check_ready", "create_admin_token", "revoke_admin_token", "rewrap"]

_TOKEN_PREFIX = "kwa_"  # noqa: S105 - a public marker, not a secret
_SCOPE = re.compile(r"^[A-Za-z0-9:._*-]{1,64}$")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_admin_token(
    store: Store, scopes: Iterable[str], *, name: str, actor: str, now: datetime
) -> str:
    """Create a token with ``scopes``; the returned secret is never stored."""
    scope_list = sorted(set(scopes)) if not isinstance(scopes, str) else None
    if not scope_list or not all(isinstance(s, str) and _SCOPE.match(s) for s in scope_list):
        raise ValueError("scopes must be a non-empty iterable of scope names like 'keys:read'")
    secret = _TOKEN_PREFIX + b64url_encode(secrets.token_bytes(32))
    with store.write() as conn:
        conn.execute(
            insert(t.admin_tokens).values(
                token_hash=_hash(secret),
                name=name,
                scopes=" ".join(scope_list),
                created_at=now,
                revoked=False,
            )
        )
        conn.execute(
            insert(t.audit).values(
                at=now,
                actor=actor,
                action="create_admin_token",
                reason=f"token {name!r} scopes {' '.join(scope_list)}",
            )
        )
    return secret


def check_admin_token(store: Store, secret: str) -> frozenset[str] | None:
    """The token's scopes, or ``None`` if it is unknown or revoked."""
    if not isinstance(secret, str) or not secret.startswith(_TOKEN_PREFIX):
        return None
    with store.read() as conn:
        row = conn.execute(
            select(t.admin_tokens.c.scopes, t.admin_tokens.c.revoked).where(
                t.admin_tokens.c.token_hash == _hash(secret)
            )
        ).one_or_none()
    if row is None or row.revoked:
        return None
    return frozenset(row.scopes.split())


def revoke_admin_token(store: Store, name: str, *, actor: str, now: datetime) -> int:
    """Revoke every admin token called ``name``; returns how many were revoked."""
    with store.write() as conn:
        result = conn.execute(
            update(t.admin_tokens)
            .where(t.admin_tokens.c.name == name, t.admin_tokens.c.revoked.is_(False))
            .values(revoked=True)
        )
        conn.execute(
            insert(t.audit).values(
                at=now, actor=actor, action="revoke_admin_token", reason=f"token {name!r}"
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
