"""The Issuer: key sets that rotate themselves, usable as a library (DESIGN.md, "Key lifecycle").

:class:`Issuer` is a facade composed from parts, each in its own module:

- transitions (tick, rotate, revoke; loading the signer): :mod:`keywell.issuer.rotation`;
- key sets (create, read, re-configure, keys, audit): :mod:`keywell.issuer.keysets`;
- signing (a short in-memory cache of the active key): :mod:`keywell.issuer.signing`;
- publication (the JWKS cached per set version): :mod:`keywell.issuer.publication`;
- admin tokens: :mod:`keywell.issuer.admin_tokens`;
- start-up (choosing the KEK, opening the store): :mod:`keywell.issuer.startup`.

Every SQL statement is in :mod:`keywell.store`; every domain rule in
:mod:`keywell.lifecycle`. HMAC (HS256) sets are for private use: they are never
published, and :meth:`Issuer.jwks` raises :class:`~keywell.errors.KeySetError` for them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from keywell.errors import CustodyError
from keywell.issuer.admin_tokens import DEFAULT_TOKEN_TTL, AdminTokenInfo, AdminTokens
from keywell.issuer.custody import CustodyHealth, Reconciler
from keywell.issuer.keysets import KeySets
from keywell.issuer.publication import Publication
from keywell.issuer.rotation import Transitions
from keywell.issuer.signing import SignerCache, SignerEntry
from keywell.issuer.startup import open_store
from keywell.lifecycle import (
    AuditEvent,
    KeyInfo,
    KeySetInfo,
    PublishedJWKS,
    RotationPolicy,
    RotationResult,
    Transition,
)
from keywell.lifecycle.rules import SIGNING_ALGORITHMS
from keywell.store import maintenance
from keywell.store.kek import KEKRing

__all__ = ["SIGNING_ALGORITHMS", "Issuer"]


_log = logging.getLogger("keywell.custody")


def _utcnow() -> datetime:
    return datetime.now(UTC)


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
        custody_check_ttl: seconds a custody backend's readiness answer is
            reused by :meth:`check_ready` (so probes do not hammer the backend).

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
        custody_check_ttl: float = 5.0,
    ) -> None:
        if not sign_cache_ttl >= 0:
            raise ValueError("sign_cache_ttl must be >= 0")
        if not custody_check_ttl >= 0:
            raise ValueError("custody_check_ttl must be >= 0")
        self._store = open_store(
            database_url, keks, production=production, auto_upgrade=auto_upgrade
        )
        self._clock = clock or _utcnow
        clock_fn = self._clock
        self._signers = SignerCache(
            self._load_signer, time.time if clock is None else lambda: clock_fn().timestamp()
        )
        self._transitions = Transitions(
            self._store, self._clock, self._signers, cache_ttl=float(sign_cache_ttl)
        )
        self._keysets = KeySets(self._store, self._clock, self._signers)
        self._publication = Publication(self._store)
        self._admin_tokens = AdminTokens(self._store, self._clock)
        self._custody_health = CustodyHealth(float(custody_check_ttl))
        self._reconciler = Reconciler(self._store)

    def __repr__(self) -> str:
        return f"Issuer({self._store.engine.url.render_as_string(hide_password=True)!r})"

    def _load_signer(self, name: str, now: datetime) -> SignerEntry:
        return self._transitions.load_signer(name, now)

    # -- key sets -----------------------------------------------------------

    def create_keyset(
        self,
        name: str,
        *,
        issuer: str,
        alg: str = "ES256",
        policy: RotationPolicy | None = None,
        actor: str = "system",
        rsa_bits: int = 2048,
        custody: str = "db",
    ) -> KeySetInfo:
        """Create a set with an active key and a published pending successor.

        ``custody`` names where its private keys live (:mod:`keywell.custody.uri`):
        ``db`` (sealed in the store) or an HSM/KMS URI, whose backend generates
        the keys (non-extractable); the store keeps only its reference and the
        public key. Creation is atomic: if the backend fails, no set is left.

        Raises:
            KeySetExistsError: the name is taken.
            ValueError: bad name, issuer or algorithm.
            InvalidInputError: ``custody`` is no custody URI.
            CustodyError: the backend cannot be opened, does not support ``alg``,
                or failed to generate the keys.
        """
        return self._keysets.create(
            name,
            issuer=issuer,
            alg=alg,
            policy=policy,
            actor=actor,
            rsa_bits=rsa_bits,
            custody=custody,
        )

    def set_custody(self, name: str, custody: str, *, actor: str = "system") -> KeySetInfo:
        """Make ``custody`` where the set's next keys are made (audited ``set_custody``).

        Existing keys stay where they are (no key ever leaves a backend): the
        next pending key is made in the new custody and takes over by normal
        rotation; the old keys expire, and are destroyed, in their own backend.

        Raises:
            KeySetNotFoundError: no set is called ``name``.
            InvalidInputError: ``custody`` is no custody URI.
            CustodyError: the backend cannot be opened or reached, or does not
                support the set's algorithm; nothing changed.
        """
        return self._keysets.set_custody(name, custody, actor=actor)

    def get_keyset(self, name: str) -> KeySetInfo:
        """The set called ``name`` (KeySetNotFoundError if none)."""
        return self._keysets.get(name)

    def list_keysets(self) -> list[KeySetInfo]:
        """Every key set, by name."""
        return self._keysets.all()

    def update_policy(
        self, name: str, policy: RotationPolicy, *, actor: str = "system"
    ) -> KeySetInfo:
        """Replace a set's policy; transitions the new policy makes due happen at once."""
        return self._keysets.update_policy(name, policy, actor=actor)

    def update_issuer(
        self, name: str, issuer: str, *, actor: str = "system", reason: str = ""
    ) -> KeySetInfo:
        """Change a set's issuer URL (audited ``update_issuer``; bumps the set's version).

        Tokens signed before name the old issuer: verifiers that check ``iss``
        refuse them, so this is for a server that moved (the development
        server following the port it bound), not a routine operation.

        Raises:
            KeySetNotFoundError: no set is called ``name``.
            InvalidInputError: ``issuer`` is no acceptable issuer URL.
        """
        return self._keysets.update_issuer(name, issuer, actor=actor, reason=reason)

    def keys(self, name: str) -> list[KeyInfo]:
        """Every key of the set, oldest first."""
        return self._keysets.keys(name)

    def history(
        self,
        name: str | None = None,
        *,
        limit: int = 100,
        actor: str | None = None,
        action: str | None = None,
        before: int | None = None,
    ) -> list[AuditEvent]:
        """Audit events, newest first (of one set, or of everything).

        ``actor`` and ``action`` keep only the events equal to them; ``before``
        keeps those with a lower ``id`` (the next page after the last id seen).

        Raises:
            KeySetNotFoundError: ``name`` is no valid key-set name (it names nothing).
            ValueError: ``limit`` or ``before`` is not an integer from 0 to 2**31 - 1.
        """
        return self._keysets.history(name, limit=limit, actor=actor, action=action, before=before)

    def versions(self) -> dict[str, int]:
        """Every set's version counter (bumped on every change of the set)."""
        return self._keysets.versions()

    # -- transitions --------------------------------------------------------

    def tick(self, now: datetime | None = None) -> list[Transition]:
        """Perform every due transition of every set; idempotent, exactly once across processes.

        Also retries backend destructions still pending, and (each set at most
        every few minutes) destroys orphaned backend keys (:meth:`reconcile_custody`).

        Raises:
            CustodyError: a set's custody backend failed; that set is unchanged
                and retried on the next tick (the other sets had their turn).
        """
        done = self._transitions.tick(now)
        try:
            self._reconciler.run(now or self._clock())
        except CustodyError as exc:  # best effort: retried on a later tick
            _log.warning("orphan reconciliation failed: %s", exc)
        return done

    def reconcile_custody(self, name: str | None = None, *, grace: timedelta | None = None) -> int:
        """Destroy backend keys of ``name`` (or every set) that no key names; return how many.

        Such keys are left by a process killed between generating a key and
        committing it. Only keys older than ``grace`` (default 15 minutes, by
        the UTC stamp in their backend name) are taken, so a key another
        replica is still committing is never destroyed. Each is audited
        ``custody_orphan_destroy``.

        Raises:
            CustodyError: a backend could not be listed or refused a destroy.
        """
        return self._reconciler.run(self._clock(), name=name, force=True, grace=grace)

    def rotate(
        self, name: str, *, emergency: bool = False, actor: str = "system"
    ) -> RotationResult:
        """Rotate now: planned (the pending key, once published for ``prepublish``) or emergency."""
        return self._transitions.rotate(name, emergency=emergency, actor=actor)

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
        return self._transitions.revoke(name, kid, reason, actor=actor)

    # -- signing and publishing ---------------------------------------------

    def sign(
        self, name: str, claims: Mapping[str, Any], *, ttl: timedelta | float | None = None
    ) -> str:
        """Sign a JWT with the set's active key (``ttl`` defaults to ``max_token_ttl``).

        A token no keywell verifier would accept is never signed (the rules
        live in :func:`keywell.issuer.signing.check_minted`).

        Raises:
            KeySetNotFoundError: no set is called ``name``.
            PolicyError: ``ttl`` exceeds the set's ``max_token_ttl``.
            ClaimError: a registered claim has the wrong JSON type (RFC 7519
                section 4.1), or ``nbf`` is not before ``exp`` (section 4.1.5).
            TokenTooLargeError: the token would be longer than the default
                verifier's ``max_size`` (``DEFAULT_MAX_TOKEN_SIZE`` characters).
            ValueError: ``claims`` sets iat/exp/jti or another issuer.
            KEKError: the active key cannot be decrypted.
            CustodyError: the active key is in an HSM/KMS custody that failed
                or refused to sign (unreachable, credential refused, key gone).
        """
        return self._signers.sign(name, claims, ttl)

    def try_sign_cached(
        self, name: str, claims: Mapping[str, Any], *, ttl: timedelta | float | None = None
    ) -> str | None:
        """Sign like :meth:`sign` if the set's signer is in memory; ``None`` instead of any I/O.

        For callers on an event loop: on ``None``, call :meth:`sign` in a worker thread.
        """
        return self._signers.try_sign_cached(name, claims, ttl)

    def signer_in_memory(self, name: str) -> bool:
        """Whether the set's signer is loaded and valid (no I/O)."""
        return self._signers.cached(name) is not None

    def sign_if_loaded(
        self, name: str, claims: Mapping[str, Any], *, ttl: timedelta | float | None = None
    ) -> str | None:
        """Sign like :meth:`sign` if the set's signer is in memory, else ``None`` (no store read).

        For a key in a custody backend this is the backend call (blocking, bounded
        by the custody's ``timeout``): call it in a worker thread. Raises what
        :meth:`sign` raises.
        """
        return self._signers.sign_if_loaded(name, claims, ttl)

    def invalidate_signer(self, name: str | None = None) -> None:
        """Drop the cached signer of ``name`` (or of every set): the next sign reads the store.

        A server calls this when it sees another replica change the set, so a key
        revoked elsewhere stops signing here within the poll interval.
        """
        self._signers.invalidate(name)

    def jwks(self, name: str) -> PublishedJWKS:
        """The set's published JWKS (cached per version); KeySetError for HMAC sets."""
        return self._publication.jwks(name)

    # -- operations ---------------------------------------------------------

    def check_ready(self) -> None:
        """Raise a typed error unless the store is usable by this process.

        The database answers, the KEKs open what the store needs (KEKError once
        another replica's KEK rotation left this one behind), every active
        sealed key decrypts, and every custody backend in use answers its
        check (CustodyError; each answer is reused for a few seconds). A
        server's ``/readyz`` answers 503 on any of these.
        """
        self._store.check_keks()
        for uri in maintenance.check_ready(self._store):
            self._custody_health.check(uri)

    def rewrap(self, *, actor: str = "system") -> int:
        """Make the newest KEK the sealing KEK and re-seal every private key under it.

        One transaction; returns the count of keys re-sealed.

        Raises:
            KEKError: the KEKs cannot open what the store needs, or the newest is
                a retired KEK; nothing changed.
        """
        self._store.check_keks()  # refuse early; promoted and checked again under the lock
        count = maintenance.rewrap(self._store, actor=actor, now=self._clock())
        self._signers.invalidate()
        return count

    # -- admin tokens -------------------------------------------------------

    def create_admin_token(
        self,
        scopes: Iterable[str],
        *,
        name: str = "",
        actor: str = "system",
        ttl: timedelta | None = DEFAULT_TOKEN_TTL,
    ) -> str:
        """Create an admin API token valid for ``ttl`` (90 days; ``None``: never expires).

        The secret is returned once and stored only hashed; see
        :meth:`admin_token_info` for its id and expiry.
        """
        return self._admin_tokens.create(scopes, name=name, actor=actor, ttl=ttl)

    def check_admin_token(self, secret: str) -> frozenset[str] | None:
        """The scopes of an admin token, or ``None`` if unknown, revoked or expired."""
        return self._admin_tokens.check(secret)

    def admin_token_info(self, secret: str) -> AdminTokenInfo | None:
        """The id, name, scopes and expiry of the token ``secret`` (``None`` if unknown)."""
        return self._admin_tokens.info(secret)

    def list_admin_tokens(self) -> list[AdminTokenInfo]:
        """Every admin token (never a secret), oldest first, revoked and expired included."""
        return self._admin_tokens.all()

    def revoke_admin_token(
        self, name: str | None = None, *, token_id: int | None = None, actor: str = "system"
    ) -> int:
        """Revoke the token ``token_id``, or the tokens called ``name``; returns how many.

        Raises:
            AdminTokenNotFoundError: no token has ``token_id``.
        """
        return self._admin_tokens.revoke(name, token_id=token_id, actor=actor)

    def close(self) -> None:
        """Release the database connections."""
        self._signers.invalidate()
        self._store.engine.dispose()
