"""Admin API authentication: bearer tokens (RFC 6750) with scopes, checked through the Issuer.

Tokens are stored hashed by the store; :meth:`Issuer.check_admin_token` maps a
secret to its scopes. Lookups, found or not, are cached in memory under the
SHA-256 of the secret (never the secret itself) for ``ttl`` seconds, in one
bounded cache: the minting path pays no database round trip per request, and
a flood of one unknown token pays none either (a flood of many unknown tokens
is rate-limited per client address by ``keywell.server.limits``). The server
sets ``ttl`` to its staleness bound (``ServerConfig.auth_cache_seconds``,
0.25 s by default): a token revoked through one replica, or created on one,
is refused, or accepted, by every replica within that bound.

Scopes: ``read``, ``sign``, ``rotate``, ``revoke``, ``metrics`` (scrape
``/metrics``) and ``admin``, which grants all.
A missing or unknown token is a 401 with ``WWW-Authenticate: Bearer``; a valid
token without the scope is a 403 with ``error="insufficient_scope"``
(RFC 6750 section 3.1). Neither response repeats what the client sent.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio.to_thread

from keywell.server.problems import Problem

if TYPE_CHECKING:
    from keywell.issuer import Issuer

__all__ = ["SCOPES", "Authenticator", "Principal", "StoreMisses", "authorize"]

SCOPES = frozenset({"read", "sign", "rotate", "revoke", "metrics", "admin"})
MAX_SECRET_LENGTH = 512
_REALM = 'Bearer realm="keywell-admin"'


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: its scopes and an audit name derived from the token's hash."""

    scopes: frozenset[str]
    actor: str


class StoreMisses:
    """How many unknown tokens one request looked up in the store (set per request).

    ``keywell.server.limits`` installs one with :meth:`counting` around a
    request and throttles the client address when it ends up non-zero: only a
    failure that cost a database round trip counts (a missing header, a
    malformed one or a cached miss cost nothing).
    """

    current: ContextVar[StoreMisses | None] = ContextVar("keywell_store_misses", default=None)

    def __init__(self) -> None:
        self.count = 0

    @classmethod
    def record(cls) -> None:
        """Count one store lookup of an unknown token in the current request, if counted."""
        tally = cls.current.get()
        if tally is not None:
            tally.count += 1  # the worker thread runs in a copy of the request's context


def unauthorized(detail: str, *, invalid: bool) -> Problem:
    """A 401 problem with the RFC 6750 challenge (``invalid_token`` when a token was sent)."""
    challenge = f'{_REALM}, error="invalid_token"' if invalid else _REALM
    return Problem(401, "KW_UNAUTHORIZED", detail, headers={"WWW-Authenticate": challenge})


def authorize(principal: Principal, scope: str) -> None:
    """Raise a 403 problem unless ``principal`` holds ``scope`` (or ``admin``)."""
    if scope in principal.scopes or "admin" in principal.scopes:
        return
    raise Problem(
        403,
        "KW_FORBIDDEN",
        f"this token lacks the {scope!r} scope",
        headers={"WWW-Authenticate": f'{_REALM}, error="insufficient_scope", scope="{scope}"'},
        extra={"required_scope": scope},
    )


class Authenticator:
    """Resolve bearer secrets to principals with a short cache of hits and misses.

    Args:
        issuer: the key store holding hashed admin tokens.
        ttl: seconds a lookup is reused; a revoked token may be accepted for at
            most this long by a replica that saw it recently, and a new one
            refused for as long by a replica that was just asked for it.
        max_entries: the cache size bound (hits and misses together).
        clock: a monotonic clock (tests).
        on_failure: called with ``"missing"``, ``"invalid"`` or ``"scope"`` (metrics).
        vouch_seconds: how long a token the store accepted stays *vouched for*:
            the per-address failure throttle never refuses it (see
            :meth:`vouched`). Vouching only exempts a token from the throttle;
            every request is still authenticated against the cache and store.
    """

    def __init__(
        self,
        issuer: Issuer,
        *,
        ttl: float = 5.0,
        max_entries: int = 1024,
        clock: Callable[[], float] = time.monotonic,
        on_failure: Callable[[str], None] | None = None,
        vouch_seconds: float = 3600.0,
    ) -> None:
        if ttl < 0 or max_entries <= 0 or vouch_seconds < 0:
            raise ValueError("ttl must be >= 0 and max_entries > 0")
        self._issuer = issuer
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._cache: dict[bytes, tuple[float, Principal | None]] = {}
        self._vouch = vouch_seconds
        self._vouched: dict[bytes, float] = {}
        self.on_failure = on_failure or (lambda reason: None)

    @staticmethod
    def _digest(secret: str) -> bytes:
        return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()

    def cached(self, secret: str) -> Principal | None:
        """The cached principal for ``secret``, or ``None`` when not cached (no I/O).

        Raises:
            Problem: 401, ``secret`` was looked up within ``ttl`` and is unknown.
        """
        hit = self._cache.get(self._digest(secret))
        if hit is not None and hit[0] > self._clock():
            if hit[1] is None:
                raise self.reject_unknown()
            return hit[1]
        return None

    def lookup(self, secret: str) -> Principal | None:
        """Resolve ``secret`` (blocking on a cache miss: call it from a worker thread)."""
        digest = self._digest(secret)
        hit = self._cache.get(digest)
        now = self._clock()
        if hit is not None and hit[0] > now:
            return hit[1]
        scopes = self._issuer.check_admin_token(secret)
        principal = None
        if scopes is None:
            StoreMisses.record()
            self._vouched.pop(digest, None)
        else:
            principal = Principal(frozenset(scopes), f"admin-token:{digest.hex()[:12]}")
            if len(self._vouched) >= self._max and digest not in self._vouched:
                self._vouched = {k: t for k, t in self._vouched.items() if t > now}
                if len(self._vouched) >= self._max:
                    self._vouched.pop(next(iter(self._vouched)))  # the oldest vouch
            self._vouched[digest] = now + self._vouch
        if self._ttl > 0:
            if len(self._cache) >= self._max:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
                if len(self._cache) >= self._max:
                    self._cache.clear()
            self._cache[digest] = (now + self._ttl, principal)
        return principal

    async def authenticate(self, authorization: str | None) -> Principal:
        """The principal of an ``Authorization`` header value (RFC 6750 section 2.1).

        Raises:
            Problem: 401, no bearer token, or one the store does not know.
        """
        secret = self.secret_from_header(authorization)
        principal = self.cached(secret)
        if principal is None:
            principal = await anyio.to_thread.run_sync(self.lookup, secret)
        if principal is None:
            raise self.reject_unknown()
        return principal

    def vouched(self, authorization: str | None) -> bool:
        """Whether the store accepted this bearer token within ``vouch_seconds``.

        No I/O, nothing counted. The failure throttle asks this so that an attacker sending unknown
        tokens from a shared address (a proxy, a NAT) never locks out callers
        whose tokens are known good; a token the store refused since is no
        longer vouched for.
        """
        if not authorization:
            return False
        scheme, _, secret = authorization.partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret or len(secret) > MAX_SECRET_LENGTH:
            return False
        until = self._vouched.get(self._digest(secret))
        return until is not None and until > self._clock()

    def secret_from_header(self, authorization: str | None) -> str:
        """Extract the bearer secret from an ``Authorization`` value or raise a 401 problem."""
        if not authorization:
            self.on_failure("missing")
            raise unauthorized("a bearer token is required", invalid=False)
        scheme, _, secret = authorization.partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            self.on_failure("missing")
            raise unauthorized("a bearer token is required", invalid=False)
        if len(secret) > MAX_SECRET_LENGTH or not secret.isprintable():
            self.on_failure("invalid")
            raise unauthorized("the bearer token is not valid", invalid=True)
        return secret

    def reject_unknown(self) -> Problem:
        """The 401 for a token the store does not know (counted as a failure)."""
        self.on_failure("invalid")
        return unauthorized("the bearer token is not valid", invalid=True)
