"""The Issuer: key sets that rotate themselves, usable as a library (DESIGN.md, "Key lifecycle").

Every change runs in one transaction holding the key-set lock, re-reads the
state, applies the pure planner (:mod:`keywell.lifecycle`) and bumps the set's
version, so any number of processes sharing one database perform each
transition exactly once. Signing uses a short in-memory cache of the active
key (see :mod:`keywell.issuer.signing`); :meth:`Issuer.jwks` caches the
published document per set version. Creating, reading and re-configuring
sets lives in :mod:`keywell.issuer.keysets`; choosing the KEK and opening the
store in :mod:`keywell.issuer.startup`.

HMAC (HS256) sets are for private use: they are never published, and
:meth:`Issuer.jwks` raises :class:`~keywell.errors.KeySetError` for them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from keywell.errors import KeyNotFoundError, KeySetError, KeySetNotFoundError
from keywell.issuer import admin_tokens as admin
from keywell.issuer.keysets import SIGNING_ALGORITHMS, KeySetMethods
from keywell.issuer.publication import build_published
from keywell.issuer.signing import SignerCache, SignerEntry
from keywell.issuer.startup import open_store
from keywell.lifecycle import (
    KeyInfo,
    KeyState,
    PublishedJWKS,
    RotationPolicy,
    RotationResult,
    Step,
    Transition,
    emergency_warning,
    next_due,
    plan,
    plan_revoke,
    plan_rotate,
    rotation_due_at,
)
from keywell.lifecycle.names import check_reason
from keywell.store import tables as t
from keywell.store.kek import KEKRing
from keywell.store.repository import LockedSet

__all__ = ["SIGNING_ALGORITHMS", "Issuer"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Issuer(KeySetMethods):
    """Key sets, their rotation, signing and publication, over SQLite or PostgreSQL.

    Args:
        database_url: ``sqlite:///path.db`` or ``postgresql+psycopg://...``.
        keks: the key-encryption keys; default from the environment, or a
            development KEK file beside a SQLite database (with a warning).
        clock: returns the current time as an aware UTC datetime.
        production: refuse to start without an explicit KEK.
        sign_cache_ttl: seconds a decrypted active key is reused without
            re-reading the store; a revocation by another process takes effect
            here within this bound (it is also capped by the set's clock_skew).
        auto_upgrade: apply migrations at start instead of requiring them.

    Raises:
        KEKError: no usable KEK configuration, or the KEKs cannot open what the
            store holds (see :mod:`keywell.store.kek_check`): a process whose
            KEKs cannot open the store's keys never writes key material.
        keywell.store.SchemaError: the schema is not at the latest migration.
    """

    def __init__(
        self,
        database_url: str = "sqlite:///keywell.db",
        *,
        keks: KEKRing | None = None,
        clock: Callable[[], datetime] | None = None,
        production: bool = False,
        sign_cache_ttl: float = 5.0,
        auto_upgrade: bool = False,
    ) -> None:
        if not sign_cache_ttl >= 0:
            raise ValueError("sign_cache_ttl must be >= 0")
        self._store = open_store(
            database_url, keks, production=production, auto_upgrade=auto_upgrade
        )
        self._clock = clock or _utcnow
        self._cache_ttl = float(sign_cache_ttl)
        clock_fn = self._clock
        self._signers = SignerCache(
            self._load_signer, time.time if clock is None else lambda: clock_fn().timestamp()
        )
        self._published: dict[str, PublishedJWKS] = {}

    def __repr__(self) -> str:
        return f"Issuer({self._store.engine.url.render_as_string(hide_password=True)!r})"

    # -- transitions -------------------------------------------------------

    def _apply_locked(
        self,
        name: str,
        now: datetime | None,
        steps_of: Callable[[RotationPolicy, list[KeyInfo], datetime], list[Step]],
        *,
        actor: str,
        action: str,
        on_empty: Callable[[LockedSet, datetime], None] | None = None,
    ) -> tuple[list[Transition], LockedSet]:
        """Plan and apply ``steps_of`` under the set's lock, keeping the lock short.

        The fresh keys the steps need are generated first, from an unlocked
        snapshot; under the lock the steps are planned again on the state read
        there (spares not needed are discarded), and the transition time is
        stamped once the lock is held, so it lies as close to the commit as it can.
        """
        probe = now or self._clock()
        spares = self._store.spare_keys(name, lambda policy, keys: steps_of(policy, keys, probe))
        with self._store.locked(name, probe, spares=spares) as locked:
            moment = now or self._clock()
            steps = steps_of(locked.info.policy, locked.keys, moment)
            if not steps and on_empty is not None:
                on_empty(locked, moment)
            done = locked.apply(steps, now=moment, actor=actor, action=action)
        if done:
            self._signers.invalidate(name)
        return done, locked

    def tick(self, now: datetime | None = None) -> list[Transition]:
        """Perform every due transition of every set; idempotent, exactly once across processes."""
        probe = now or self._clock()
        with self._store.read() as conn:
            sets = conn.execute(select(t.keysets.c.id, t.keysets.c.name)).all()
            due = []
            for row in sets:
                info = self._store.get_set(conn, row.name)[1]
                at = next_due(info.policy, self._store.keys_of(conn, row.id))
                if at is not None and at <= probe:
                    due.append(row.name)
        done: list[Transition] = []
        for name in due:
            try:
                done += self._tick_set(name, now)
            except KeySetNotFoundError:
                continue  # deleted meanwhile
        return done

    def _tick_set(self, name: str, now: datetime | None) -> list[Transition]:
        return self._apply_locked(name, now, plan, actor="system", action="tick")[0]

    def rotate(
        self, name: str, *, emergency: bool = False, actor: str = "system"
    ) -> RotationResult:
        """Rotate now: planned (the pending key, once published for ``prepublish``) or emergency."""
        deferred: list[datetime | None] = [None]

        def steps_of(policy: RotationPolicy, keys: list[KeyInfo], at: datetime) -> list[Step]:
            steps, deferred[0] = plan_rotate(policy, keys, at, emergency=emergency)
            return steps

        def on_empty(locked: LockedSet, at: datetime) -> None:
            locked.audit(
                "rotate_deferred",
                changed=False,
                actor=actor,
                at=at,
                reason=f"pending key not published long enough until {deferred[0]}",
            )

        action = "emergency_rotate" if emergency else "rotate"
        done, locked = self._apply_locked(
            name, None, steps_of, actor=actor, action=action, on_empty=on_empty
        )
        active = next(k for k in locked.keys if k.state is KeyState.ACTIVE)
        warning = None
        if emergency:
            at = done[-1].at if done else self._clock()
            warning = emergency_warning(locked.info.policy, locked.keys, at)
        return RotationResult(
            performed=bool(done),
            active_kid=active.kid,
            warning=warning,
            next_possible_at=deferred[0],
            transitions=done,
        )

    def revoke(
        self, name: str, kid: str, reason: str, *, actor: str = "system"
    ) -> list[Transition]:
        """Revoke ``kid`` at once: unpublished, private half destroyed, reason recorded.

        The successor keys a revocation of the active key needs are generated
        before the set is locked; the revocation is stamped and committed right
        after the lock is taken.

        Raises:
            KeySetNotFoundError: no set is called ``name``.
            KeyNotFoundError: the set has no key ``kid``.
            InvalidInputError: ``reason`` is empty, too long or holds control characters.
        """
        check_reason(reason)  # InvalidInputError (a ValueError); rules in lifecycle.names

        def steps_of(policy: RotationPolicy, keys: list[KeyInfo], at: datetime) -> list[Step]:
            return plan_revoke(keys, kid, reason)

        self._signers.invalidate(name)
        try:
            return self._apply_locked(name, None, steps_of, actor=actor, action="revoke")[0]
        except LookupError:
            raise KeyNotFoundError(f"key set {name!r} has no key {kid!r}") from None

    # -- signing and publishing ---------------------------------------------

    def _load_signer(self, name: str, now: datetime) -> SignerEntry:
        store = self._store
        for _ in range(3):
            with store.read() as conn:
                set_id, info = store.get_set(conn, name)
                keys = store.keys_of(conn, set_id)
                due = next_due(info.policy, keys)
                if due is None or due > now:
                    active = next(k for k in keys if k.state is KeyState.ACTIVE)
                    key = store.private_jwk(conn, name, active.kid)
                    break
            self._tick_set(name, None)  # a transition is due: perform it before signing
        else:  # pragma: no cover - three ticks in a row found more due
            raise KeySetError(f"key set {name!r} keeps changing; try again")
        until = rotation_due_at(info.policy, keys)
        ttl = min(self._cache_ttl, info.policy.clock_skew.total_seconds())
        return SignerEntry(
            key=key,
            issuer=info.issuer,
            max_ttl=info.policy.max_token_ttl.total_seconds(),
            mono_expiry=time.monotonic() + ttl,
            valid_until=until.timestamp() if until else float("inf"),
        )

    def sign(
        self, name: str, claims: Mapping[str, Any], *, ttl: timedelta | float | None = None
    ) -> str:
        """Sign a JWT with the set's active key (``ttl`` defaults to ``max_token_ttl``).

        Raises:
            PolicyError: ``ttl`` exceeds the set's ``max_token_ttl``.
            ValueError: ``claims`` sets iat/exp/jti or another issuer.
            KEKError: the active key cannot be decrypted.
        """
        return self._signers.sign(name, claims, ttl)

    def try_sign_cached(
        self, name: str, claims: Mapping[str, Any], *, ttl: timedelta | float | None = None
    ) -> str | None:
        """Sign like :meth:`sign` if the set's signer is in memory; ``None`` instead of any I/O.

        For callers on an event loop: on ``None``, call :meth:`sign` in a worker thread.
        """
        return self._signers.try_sign_cached(name, claims, ttl)

    def invalidate_signer(self, name: str | None = None) -> None:
        """Drop the cached signer of ``name`` (or of every set): the next sign reads the store.

        A server calls this when it sees another replica change the set, so a key
        revoked elsewhere stops signing here within the poll interval.
        """
        self._signers.invalidate(name)

    def jwks(self, name: str) -> PublishedJWKS:
        """The set's published JWKS (cached per version); KeySetError for HMAC sets."""
        with self._store.read() as conn:
            set_id, info = self._store.get_set(conn, name)
            cached = self._published.get(name)
            if cached is not None and cached.version == info.version:
                return cached
            if info.alg.startswith("HS"):
                raise KeySetError(
                    f"key set {name!r} uses {info.alg}: HMAC sets are never published"
                )
            published = build_published(info, self._store.public_jwks_rows(conn, set_id))
        self._published[name] = published
        return published

    # -- operations ---------------------------------------------------------

    def check_ready(self) -> None:
        """Raise a typed error unless the store is usable by this process.

        The database answers, the KEKs open what the store needs (KEKError once
        another replica's KEK rotation left this one behind) and every active
        key decrypts. A server's ``/readyz`` answers 503 on any of these.
        """
        self._store.check_keks()
        admin.check_ready(self._store)

    def rewrap(self, *, actor: str = "system") -> int:
        """Re-seal every private key under the newest KEK (one transaction); returns the count.

        Raises:
            KEKError: the KEKs cannot open what the store needs; nothing changed.
        """
        self._store.check_keks(self._clock(), record=True)  # each key is opened again below
        count = admin.rewrap(self._store, actor=actor, now=self._clock())
        self._signers.invalidate()
        return count

    def create_admin_token(
        self,
        scopes: Iterable[str],
        *,
        name: str = "",
        actor: str = "system",
        ttl: timedelta | None = admin.DEFAULT_TOKEN_TTL,
    ) -> str:
        """Create an admin API token valid for ``ttl`` (90 days; ``None``: never expires).

        The secret is returned once and stored only hashed; see
        :meth:`admin_token_info` for its id and expiry.
        """
        return admin.create_admin_token(
            self._store, scopes, name=name, actor=actor, now=self._clock(), ttl=ttl
        )

    def check_admin_token(self, secret: str) -> frozenset[str] | None:
        """The scopes of an admin token, or ``None`` if unknown, revoked or expired."""
        return admin.check_admin_token(self._store, secret, now=self._clock())

    def admin_token_info(self, secret: str) -> admin.AdminTokenInfo | None:
        """The id, name, scopes and expiry of the token ``secret`` (``None`` if unknown)."""
        return admin.admin_token_info(self._store, secret, now=self._clock())

    def list_admin_tokens(self) -> list[admin.AdminTokenInfo]:
        """Every admin token (never a secret), oldest first, revoked and expired included."""
        return admin.list_admin_tokens(self._store, now=self._clock())

    def revoke_admin_token(
        self, name: str | None = None, *, token_id: int | None = None, actor: str = "system"
    ) -> int:
        """Revoke the token ``token_id``, or the tokens called ``name``; returns how many.

        Raises:
            AdminTokenNotFoundError: no token has ``token_id``.
        """
        return admin.revoke_admin_token(
            self._store, name, token_id=token_id, actor=actor, now=self._clock()
        )

    def close(self) -> None:
        """Release the database connections."""
        self._signers.invalidate()
        self._store.engine.dispose()
