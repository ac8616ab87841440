"""Admin tokens, the Issuer part that makes, checks, lists and revokes them.

Admin tokens are 32 random bytes shown once; only their SHA-256 is stored,
so a database dump reveals no usable token. Each token has an id (the row's
number, for ``keywell admin-token revoke ID``), a fingerprint (the first 12
hex digits of that hash: the ``admin-token:...`` actor of its audit events)
and an expiry (90 days unless told; ``None`` only for tokens made before
migration 0002). An expired or revoked token authenticates nothing. The rows
are written by :mod:`keywell.store.admin_tokens`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from keywell.errors import AdminTokenNotFoundError
from keywell.jose.base64url import b64url_encode
from keywell.lifecycle.durations import MAX_DURATION
from keywell.lifecycle.names import check_label, is_label
from keywell.lifecycle.wire import timestamp
from keywell.store import admin_tokens as rows
from keywell.store.repository import Store

__all__ = ["DEFAULT_TOKEN_TTL", "AdminTokenInfo", "AdminTokens", "admin_token_dict"]

_TOKEN_PREFIX = "kwa_"  # noqa: S105 - a public marker, not a secret
_SCOPE = re.compile(r"^[A-Za-z0-9:._*-]{1,64}$")
#: How long an admin token lives unless told otherwise.
DEFAULT_TOKEN_TTL = timedelta(days=90)
_MAX_ID = 2**31 - 1  # the id column is a 32-bit integer on PostgreSQL


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


def admin_token_dict(info: AdminTokenInfo) -> dict[str, Any]:
    """An admin token (never its secret) in wire form: times as RFC 3339 strings."""
    return {
        "id": info.id,
        "name": info.name,
        "scopes": list(info.scopes),
        "fingerprint": info.fingerprint,
        "created_at": timestamp(info.created_at),
        "expires_at": timestamp(info.expires_at),
        "revoked": info.revoked,
        "usable": info.usable,
    }


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


class AdminTokens:
    """Admin tokens over one store, as of the issuer's clock."""

    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._clock = clock

    def create(
        self,
        scopes: Iterable[str],
        *,
        name: str,
        actor: str,
        ttl: timedelta | None = DEFAULT_TOKEN_TTL,
    ) -> str:
        """Create a token with ``scopes`` valid for ``ttl`` (``None``: never expires).

        The returned secret is never stored. Raises ValueError for bad scopes or
        a ``ttl`` that is not a positive duration of at most ten years, and
        InvalidInputError for a ``name`` or ``actor`` breaking the label rule.
        """
        check_label(name, "name", empty=True)
        check_label(actor, "actor")
        scope_list = sorted(set(scopes)) if not isinstance(scopes, str) else None
        if not scope_list or not all(isinstance(s, str) and _SCOPE.match(s) for s in scope_list):
            raise ValueError("scopes must be a non-empty iterable of scope names like 'keys:read'")
        if ttl is not None and (
            not isinstance(ttl, timedelta)
            or not timedelta(0) < ttl <= timedelta(seconds=MAX_DURATION)
        ):
            raise ValueError("an admin token's ttl must be a timedelta between 1s and ten years")
        secret = _TOKEN_PREFIX + b64url_encode(secrets.token_bytes(32))
        now = self._clock()
        expires = None if ttl is None else now + ttl
        rows.insert_token(
            self._store,
            token_hash=_hash(secret),
            name=name,
            scopes=" ".join(scope_list),
            now=now,
            expires=expires,
            actor=actor,
            reason=f"token {name!r} scopes {' '.join(scope_list)} "
            f"expires {'never' if expires is None else expires.isoformat()}",
        )
        return secret

    def info(self, secret: str) -> AdminTokenInfo | None:
        """The token whose secret is ``secret`` (revoked or expired included), or ``None``."""
        if not isinstance(secret, str) or not secret.startswith(_TOKEN_PREFIX):
            return None
        if not secret.isprintable():  # no token has a control character or a lone surrogate
            return None
        row = rows.find_token(self._store, _hash(secret))
        return None if row is None else _info(row, self._clock())

    def check(self, secret: str) -> frozenset[str] | None:
        """The token's scopes, or ``None`` if it is unknown, revoked or expired now."""
        info = self.info(secret)
        if info is None or not info.usable:
            return None
        return frozenset(info.scopes)

    def all(self) -> list[AdminTokenInfo]:
        """Every admin token, oldest first (revoked and expired ones included)."""
        now = self._clock()
        return [_info(r, now) for r in rows.list_tokens(self._store)]

    def revoke(self, name: str | None, *, token_id: int | None, actor: str) -> int:
        """Revoke the token ``token_id``, or every token called ``name``; returns how many.

        Revoking a revoked token counts 0. Raises AdminTokenNotFoundError for an
        unknown ``token_id``, ValueError unless exactly one of the two is given.
        """
        if (name is None) == (token_id is None):
            raise ValueError("revoke an admin token by name or by id (exactly one)")
        if token_id is not None and (type(token_id) is not int or not 0 < token_id <= _MAX_ID):
            raise AdminTokenNotFoundError("no admin token has that id")  # names no row
        check_label(actor, "actor")
        if name is not None and not is_label(name, empty=True):
            return 0  # no token can have that name
        return rows.revoke_tokens(self._store, name, token_id, actor=actor, now=self._clock())
