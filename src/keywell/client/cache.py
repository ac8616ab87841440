"""The remote JWK Set cache as a state machine, free of I/O.

Everything a remote set decides lives here and takes ``now`` and fetch results
as inputs, so the sync and async shells (and the tests) drive the same logic:

- freshness from the caching headers, bounded by the policy
  (:func:`~keywell.client.freshness.compute_ttl`, RFC 9111 section 4.2.1);
  ``no-store``/``no-cache`` cache for ``min_ttl`` and revalidate;
- conditional revalidation with ``If-None-Match``/``If-Modified-Since``
  (RFC 9110 sections 13.1.1, 13.1.3); a 304 updates the stored caching
  header fields with those it carries and extends the freshness by what the
  merged fields say, without re-parsing (RFC 9111 section 4.3.4): a bare
  304 keeps the stored ``max-age``, it does not fall back to ``default_ttl``;
- one refetch for an unknown ``kid`` once ``cooldown`` has passed since the
  last attempt ended, else a fast typed refusal. There is no memory of
  unknown kids beyond that: the DoS protection is the cooldown (one fetch per
  cooldown, however many distinct kids arrive) plus the single flight in the
  shells, so a kid published after a fetch is found by the first token that
  names it once the cooldown has passed (OpenID Connect Core 1.0 section
  10.1.1: a verifier refetches the set when it meets a new ``kid``). A token
  without a ``kid`` never causes a refetch: nothing in it names a new key;
- stale-if-error: a failed fetch keeps the last good set for ``max_stale``
  past its expiry (RFC 5861 section 4 in spirit); a bad answer never replaces it;
- a set whose every key was skipped (say, a Keycloak realm still on
  RSA-1024) is the server's real answer, not an outage: with no usable set
  cached it is adopted, so a token naming a skipped key is refused with
  :class:`~keywell.errors.SkippedKeyError` saying why (as the static
  :class:`~keywell.jose.jwkset.JWKSet` does) instead of every token getting
  "JWK Set unavailable". It never replaces a set that has a usable key: then
  it counts as a failed fetch, like any other bad answer. A skipped kid is a
  known kid: it causes no refetch;
- sequence numbers, so an older response never overwrites a newer set;
- an optional refresh-ahead point before expiry.

The policy and header types (:mod:`keywell.client.freshness`) and the fetch
results (:mod:`keywell.client.results`) are re-exported here.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from keywell.client.freshness import CachePolicy, CachingHeaders, compute_ttl
from keywell.client.results import Fetched, FetchFailed, FetchResult, NotModified, Ticket
from keywell.jose.jwkset import JWKSet

__all__ = [
    "Action",
    "CachePolicy",
    "CachingHeaders",
    "Decision",
    "FetchFailed",
    "FetchResult",
    "Fetched",
    "Health",
    "JWKSCache",
    "NotModified",
    "Ticket",
    "compute_ttl",
    "has_usable_key",
    "no_usable_key",
]

_EMPTY = JWKSet(())


class Action(enum.Enum):
    """What a lookup must do next."""

    SERVE = "serve"
    SERVE_AND_REFRESH = "serve_and_refresh"
    FETCH = "fetch"
    FAIL_UNKNOWN_KID = "fail_unknown_kid"
    FAIL_UNAVAILABLE = "fail_unavailable"


@dataclass(frozen=True, slots=True)
class Decision:
    """An :class:`Action` and, for refusals, the reason."""

    action: Action
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Health:
    """A snapshot of the cache for dashboards and readiness probes."""

    state: str  # "empty", "fresh", "stale" (serving past expiry) or "expired" (unusable)
    kids: tuple[str | None, ...]
    age: float | None
    expires_in: float | None
    last_success: float | None
    last_error: str | None
    last_error_at: float | None
    consecutive_failures: int
    fetches: int
    not_modified: int
    failures: int
    etag: str | None


def _usable(keys: JWKSet) -> tuple[str | None, ...]:
    return tuple(k.kid for k in keys if k.verify_algorithms)


def has_usable_key(keys: JWKSet) -> bool:
    """Whether ``keys`` holds a key that can verify something (RFC 7517 sections 4.2, 4.3)."""
    return any(k.verify_algorithms for k in keys)


def no_usable_key(keys: JWKSet) -> str:
    """Why a set without a usable key cannot serve: the count of keys skipped, if any."""
    skipped = f" ({len(keys.skipped)} skipped)" if keys.skipped else ""
    return f"the set holds no key usable for verification{skipped}"


def _known(keys: JWKSet, kid: str) -> bool:
    """Whether the set lists ``kid``, as a loaded key or as one it skipped."""
    return kid in keys or any(s.kid == kid for s in keys.skipped)


class JWKSCache:
    """The cache state; every method takes ``now``. Not thread-safe: shells hold a lock.

    Readers on the fast path may read :attr:`keys` and :attr:`fresh_until`
    without the lock: both are replaced, never mutated.
    """

    def __init__(self, policy: CachePolicy) -> None:
        """Start empty."""
        self.policy = policy
        self.keys: JWKSet = _EMPTY
        self.fresh_until = -math.inf
        self.loaded = False
        self.expires_at = -math.inf
        self.validated_at: float | None = None
        self.headers = CachingHeaders()
        self.etag: str | None = None
        self.last_modified: str | None = None
        self.last_attempt = -math.inf
        self.last_success: float | None = None
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.consecutive_failures = 0
        self.fetches = self.not_modified = self.failures = 0
        self._seq = 0
        self._applied = 0
        self._previous_attempt = -math.inf

    def _may_fetch(self, now: float) -> bool:
        return now - self.last_attempt >= self.policy.cooldown

    def plan(self, kid: str | None, now: float, *, allow_fetch: bool = True) -> Decision:
        """Decide how to answer a lookup for ``kid`` at ``now``."""
        may_fetch = allow_fetch and self._may_fetch(now)
        if not self.loaded:
            if may_fetch:
                return Decision(Action.FETCH)
            return Decision(Action.FAIL_UNAVAILABLE, self._unavailable("no set fetched yet", now))
        refresh = False
        if now >= self.expires_at:
            if may_fetch:
                return Decision(Action.FETCH)
            if now >= self.expires_at + self.policy.max_stale:
                return Decision(
                    Action.FAIL_UNAVAILABLE, self._unavailable("cached set is past max_stale", now)
                )
        elif now >= self.fresh_until and may_fetch:
            refresh = True
        if kid is not None and not _known(self.keys, kid):
            if may_fetch:
                return Decision(Action.FETCH)
            return Decision(Action.FAIL_UNKNOWN_KID, self._not_refetching(now))
        return Decision(Action.SERVE_AND_REFRESH if refresh else Action.SERVE)

    def _not_refetching(self, now: float) -> str:
        since = max(now - self.last_attempt, 0.0)
        wait = max(self.policy.cooldown - since, 0.0)
        error = f"; that fetch failed: {self.last_error}" if self.consecutive_failures else ""
        return (
            f"not in the set fetched {since:.1f}s ago; next refetch possible in {wait:.1f}s "
            f"(cooldown {self.policy.cooldown:g}s){error}"
        )

    def _unavailable(self, what: str, now: float) -> str:
        error = f"; last error: {self.last_error}" if self.last_error else ""
        return f"{what}{error}"

    def begin(self, now: float) -> Ticket:
        """Record the start of a fetch; return its ticket with the validators to send."""
        self._seq += 1
        self._previous_attempt = self.last_attempt
        self.last_attempt = now
        if not self.loaded:
            return Ticket(self._seq, None, None)
        return Ticket(self._seq, self.etag, self.last_modified)

    def abandon(self, ticket: Ticket) -> None:
        """Forget a fetch that was cancelled before any answer (its cooldown is not charged)."""
        if ticket.seq == self._seq:
            self.last_attempt = self._previous_attempt

    def complete(self, ticket: Ticket, result: FetchResult, now: float) -> bool:
        """Apply a fetch result; False if it was older than one already applied.

        The cooldown counts from here, the end of the attempt, so a slow
        server never sees back-to-back fetches.
        """
        if ticket.seq <= self._applied:
            return False
        self._applied = ticket.seq
        self.last_attempt = max(self.last_attempt, now)
        if isinstance(result, NotModified) and not self.loaded:
            result = FetchFailed("HTTP 304 without a cached set")
        if (
            isinstance(result, Fetched)
            and not has_usable_key(result.keys)
            and has_usable_key(self.keys)
        ):
            result = FetchFailed(no_usable_key(result.keys))
        if isinstance(result, FetchFailed):
            self.failures += 1
            self.consecutive_failures += 1
            self.last_error = result.reason
            self.last_error_at = now
            return True
        if isinstance(result, Fetched):
            self.fetches += 1
            self.keys = result.keys
            self.loaded = True
            self.headers = result.headers
        else:
            self.not_modified += 1
            self.headers = self.headers.updated_by(result.headers)
        self.etag = self.headers.etag
        self.last_modified = self.headers.last_modified
        ttl = compute_ttl(self.headers, self.policy, now)
        self.validated_at = self.last_success = now
        self.consecutive_failures = 0
        self.expires_at = now + ttl
        ahead = self.policy.refresh_ahead
        self.fresh_until = self.expires_at - (min(ahead, ttl / 2) if ahead else 0.0)
        return True

    def health(self, now: float) -> Health:
        """A snapshot of the cache at ``now``."""
        if not self.loaded:
            state = "empty"
        elif now < self.expires_at:
            state = "fresh"
        elif now < self.expires_at + self.policy.max_stale:
            state = "stale"
        else:
            state = "expired"
        return Health(
            state=state,
            kids=_usable(self.keys),
            age=None if self.validated_at is None else now - self.validated_at,
            expires_in=self.expires_at - now if self.loaded else None,
            last_success=self.last_success,
            last_error=self.last_error,
            last_error_at=self.last_error_at,
            consecutive_failures=self.consecutive_failures,
            fetches=self.fetches,
            not_modified=self.not_modified,
            failures=self.failures,
            etag=self.etag,
        )
