"""The Issuer: key sets that rotate themselves, usable as a library (DESIGN.md, "Key lifecycle").

Every change runs in one transaction holding the key-set lock, re-reads the
state, applies the pure planner (:mod:`keywell.lifecycle`) and bumps the set's
version, so any number of processes sharing one database perform each
transition exactly once. Signing uses a short in-memory cache of the active
key (see :mod:`keywell.issuer_sign`); :meth:`Issuer.jwks` caches the
published document per set version.

HMAC (HS256) sets are for private use: they are never published, and
:meth:`Issuer.jwks` raises :class:`~keywell.errors.KeySetError` for them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import desc, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from keywell import issuer_admin as admin
from keywell.errors import KEKError, KeySetError, KeySetExistsError, KeySetNotFoundError
from keywell.issuer_jwks import build_published
from keywell.issuer_sign import SignerCache, SignerEntry
from keywell.lifecycle import (
    AuditEvent,
    KeyInfo,
    KeySetInfo,
    KeyState,
    PublishedJWKS,
    RotationPolicy,
    RotationResult,
    Step,
    Transition,
    next_due,
    plan,
    plan_revoke,
    plan_rotate,
    rotation_due_at,
)
from keywell.store import tables as t
from keywell.store.engine import make_engine
from keywell.store.kek import KEKRing
from keywell.store.migrate import check_schema, upgrade_engine
from keywell.store.repository import LockedSet, Store
from keywell.store.rows import audit_event, keyset_info, policy_values, to_us

__all__ = ["SIGNING_ALGORITHMS", "Issuer"]

SIGNING_ALGORITHMS = frozenset({"RS256", "PS256", "ES256", "ES384", "ES512", "EdDSA", "HS256"})
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _resolve_keks(url: str, keks: KEKRing | None, production: bool) -> KEKRing:
    if keks is not None:
        return keks
    ring = KEKRing.from_env()
    if ring is not None:
        return ring
    if production:
        raise KEKError("production mode needs an explicit KEK: set KEYWELL_KEK or KEYWELL_KEK_FILE")
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        db = Path(parsed.database or "")
        return KEKRing.development(db.with_name(db.name + ".kek"))
    raise KEKError("no KEK configured: set KEYWELL_KEK or KEYWELL_KEK_FILE")


class Issuer:
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
        KEKError: no usable KEK configuration.
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
        ring = _resolve_keks(database_url, keks, production)
        engine = make_engine(database_url)
        try:
            if auto_upgrade:
                upgrade_engine(engine)
            check_schema(engine)
        except BaseException:
            engine.dispose()
            raise
        self._store = Store(engine, ring)
        self._clock = clock or _utcnow
        self._cache_ttl = float(sign_cache_ttl)
        clock_fn = self._clock
        self._signers = SignerCache(
            self._load_signer, time.time if clock is None else lambda: clock_fn().timestamp()
        )
        self._published: dict[str, PublishedJWKS] = {}

    def __repr__(self) -> str:
        return f"Issuer({self._store.engine.url.render_as_string(hide_password=True)!r})"

    # -- key sets ----------------------------------------------------------

    def create_keyset(
        self,
        name: str,
        *,
        issuer: str,
        alg: str = "ES256",
        policy: RotationPolicy | None = None,
        actor: str = "system",
        rsa_bits: int = 2048,
    ) -> KeySetInfo:
        """Create a set with an active key and a published pending successor.

        Raises:
            KeySetExistsError: the name is taken.
            ValueError: bad name, issuer or algorithm.
        """
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError("a key-set name is 1-100 characters of A-Z a-z 0-9 . _ -")
        if not isinstance(issuer, str) or not issuer:
            raise ValueError("issuer must be a non-empty string")
        if alg not in SIGNING_ALGORITHMS:
            raise ValueError(f"alg must be one of {sorted(SIGNING_ALGORITHMS)}")
        if rsa_bits < 2048:
            raise ValueError("rsa_bits must be at least 2048")
        policy = policy or RotationPolicy()
        now = self._clock()
        try:
            with self._store.write() as conn:
                conn.execute(
                    insert(t.keysets).values(
                        name=name,
                        issuer=issuer,
                        alg=alg,
                        key_size=rsa_bits if alg in ("RS256", "PS256") else None,
                        version=0,
                        created_at=now,
                        updated_at=now,
                        **policy_values(policy),
                    )
                )
                row = conn.execute(select(t.keysets).where(t.keysets.c.name == name)).one()
                locked = LockedSet(conn, row, self._store.keks)
                locked.audit(
                    "create_keyset", actor=actor, at=now, reason=f"alg {alg}, issuer {issuer}"
                )
                first = [
                    Step(
                        kid=None,
                        old_state=None,
                        new_state=KeyState.ACTIVE,
                        reason="key set created",
                    ),
                    Step(
                        kid=None,
                        old_state=None,
                        new_state=KeyState.PENDING,
                        reason="successor of the active key",
                    ),
                ]
                locked.apply(first, now=now, actor=actor, action="create_keyset")
                locked.finish(now)
        except IntegrityError as exc:
            raise KeySetExistsError(f"a key set named {name!r} already exists") from exc
        return locked.info

    def get_keyset(self, name: str) -> KeySetInfo:
        """The set called ``name`` (KeySetNotFoundError if none)."""
        with self._store.read() as conn:
            return self._store.get_set(conn, name)[1]

    def list_keysets(self) -> list[KeySetInfo]:
        """Every key set, by name."""
        with self._store.read() as conn:
            rows = conn.execute(select(t.keysets).order_by(t.keysets.c.name)).all()
        return [keyset_info(r) for r in rows]

    def update_policy(
        self, name: str, policy: RotationPolicy, *, actor: str = "system"
    ) -> KeySetInfo:
        """Replace a set's policy; transitions the new policy makes due happen at once."""
        if not isinstance(policy, RotationPolicy):
            raise TypeError("policy must be a RotationPolicy")
        now = self._clock()
        with self._store.locked(name, now) as locked:
            locked.conn.execute(
                update(t.keysets)
                .where(t.keysets.c.id == locked.set_id)
                .values(**policy_values(policy))
            )
            locked.info = KeySetInfo(
                locked.info.name,
                locked.info.issuer,
                locked.info.alg,
                policy,
                locked.info.version,
                locked.info.created_at,
            )
            for key in locked.keys:
                if key.state is KeyState.ACTIVE:
                    locked.bump_ttl_cap(key.kid, to_us(policy.max_token_ttl))
            locked.audit("update_policy", actor=actor, at=now, reason=repr(policy))
            locked.apply(plan(policy, locked.keys, now), now=now, actor=actor, action="tick")
        self._signers.invalidate(name)
        return locked.info

    # -- transitions -------------------------------------------------------

    def _apply_locked(
        self,
        name: str,
        now: datetime | None,
        planner: Callable[[LockedSet, datetime], list[Step]],
        *,
        actor: str,
        action: str,
    ) -> tuple[list[Transition], LockedSet]:
        moment = now or self._clock()
        with self._store.locked(name, moment) as locked:
            moment = now or self._clock()  # the lock may have taken a while
            done = locked.apply(planner(locked, moment), now=moment, actor=actor, action=action)
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
        return self._apply_locked(
            name,
            now,
            lambda ls, at: plan(ls.info.policy, ls.keys, at),
            actor="system",
            action="tick",
        )[0]

    def rotate(
        self, name: str, *, emergency: bool = False, actor: str = "system"
    ) -> RotationResult:
        """Rotate now: planned (the pending key, once published for ``prepublish``) or emergency."""
        deferred: list[datetime | None] = [None]

        def planner(locked: LockedSet, at: datetime) -> list[Step]:
            steps, deferred[0] = plan_rotate(
                locked.info.policy, locked.keys, at, emergency=emergency
            )
            if not steps:
                locked.audit(
                    "rotate_deferred",
                    changed=False,
                    actor=actor,
                    at=at,
                    reason=f"pending key not published long enough until {deferred[0]}",
                )
            return steps

        action = "emergency_rotate" if emergency else "rotate"
        done, locked = self._apply_locked(name, None, planner, actor=actor, action=action)
        active = next(k for k in locked.keys if k.state is KeyState.ACTIVE)
        warning = None
        if emergency:
            warning = (
                f"emergency rotation: key {active.kid} signs at once; verifiers holding a cached "
                f"JWKS (up to {locked.info.policy.jwks_max_age}) may reject its tokens until "
                "they refresh"
            )
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
        """Revoke ``kid`` at once: unpublished, private half destroyed, reason recorded."""
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError("a revocation needs a reason")

        def planner(locked: LockedSet, at: datetime) -> list[Step]:
            try:
                return plan_revoke(locked.keys, kid, reason)
            except LookupError:
                raise KeySetError(f"key set {name!r} has no key {kid!r}") from None

        self._signers.invalidate(name)
        return self._apply_locked(name, None, planner, actor=actor, action="revoke")[0]

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

    def keys(self, name: str) -> list[KeyInfo]:
        """Every key of the set, oldest first."""
        with self._store.read() as conn:
            set_id, _ = self._store.get_set(conn, name)
            return self._store.keys_of(conn, set_id)

    def history(self, name: str | None = None, *, limit: int = 100) -> list[AuditEvent]:
        """Audit events, newest first (of one set, or of everything)."""
        query = select(t.audit).order_by(desc(t.audit.c.id)).limit(limit)
        if name is not None:
            query = query.where(t.audit.c.keyset == name)
        with self._store.read() as conn:
            return [audit_event(r) for r in conn.execute(query).all()]

    def versions(self) -> dict[str, int]:
        """Every set's version counter (bumped on every change of the set)."""
        with self._store.read() as conn:
            rows = conn.execute(select(t.keysets.c.name, t.keysets.c.version)).all()
        return {r.name: r.version for r in rows}

    # -- operations ---------------------------------------------------------

    def check_ready(self) -> None:
        """Raise a typed error unless the database answers and every active key decrypts."""
        admin.check_ready(self._store)

    def rewrap(self, *, actor: str = "system") -> int:
        """Re-seal every private key under the newest KEK (one transaction); returns the count."""
        count = admin.rewrap(self._store, actor=actor, now=self._clock())
        self._signers.invalidate()
        return count

    def create_admin_token(
        self, scopes: Iterable[str], *, name: str = "", actor: str = "system"
    ) -> str:
        """Create an admin API token; the secret is returned once and stored only hashed."""
        return admin.create_admin_token(
            self._store, scopes, name=name, actor=actor, now=self._clock()
        )

    def check_admin_token(self, secret: str) -> frozenset[str] | None:
        """The scopes of an admin token, or ``None`` if unknown or revoked."""
        return admin.check_admin_token(self._store, secret)

    def revoke_admin_token(self, name: str, *, actor: str = "system") -> int:
        """Revoke the admin tokens called ``name``; returns how many."""
        return admin.revoke_admin_token(self._store, name, actor=actor, now=self._clock())

    def close(self) -> None:
        """Release the database connections."""
        self._signers.invalidate()
        self._store.engine.dispose()
