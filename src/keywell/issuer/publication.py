"""The published JWK Set of a key set: canonical bytes, strong ETag, Cache-Control.

The body is a pure function of the set's stored state at one ``version``:
public halves of the pending, active and retired keys in creation order,
serialised as canonical JSON (sorted keys, no spaces). Every replica reading
the same version therefore serves the same bytes and the same ETag
(RFC 9110 section 8.8.3, strong validator).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta

from keywell.errors import KeySetError
from keywell.lifecycle import PUBLISHED_STATES, KeyInfo, KeySetInfo, PublishedJWKS
from keywell.lifecycle.rules import is_publishable, strong_etag
from keywell.store.repository import Store

__all__ = ["Publication", "build_published", "cache_control"]

_SWR_CAP = timedelta(seconds=60)


def cache_control(info: KeySetInfo) -> tuple[int, str]:
    """``max-age`` and the full Cache-Control value for a set's JWKS (RFC 9111, RFC 5861).

    * ``max-age`` is ``jwks_max_age``, never more: the policy guarantees it is
      at most ``prepublish``, so a cache fresh by max-age always holds a key
      before it signs.
    * ``stale-while-revalidate`` lets a cache answer from its copy while it
      refetches. A copy taken at time f holds the active key and its pending
      successor, which cannot be replaced by an unknown key before f +
      ``prepublish``; so max-age + SWR must stay <= ``prepublish``. It also
      delays a revocation, so it is capped at 60 s: SWR =
      min(60 s, prepublish - max-age, max-age).
    * ``stale-if-error`` lets caches keep serving during an origin outage: by
      the same argument a copy stays sufficient for new tokens for
      ``prepublish`` (barring emergencies), and a stale set beats none, so
      SIE = ``prepublish``.
    """
    policy = info.policy
    max_age = int(policy.jwks_max_age.total_seconds())
    prepublish = policy.effective_prepublish
    swr = min(_SWR_CAP, prepublish - policy.jwks_max_age, policy.jwks_max_age)
    sie = int(prepublish.total_seconds())
    value = (
        f"public, max-age={max_age}, stale-while-revalidate={int(swr.total_seconds())}, "
        f"stale-if-error={sie}"
    )
    return max_age, value


def build_published(info: KeySetInfo, keys: Sequence[tuple[KeyInfo, str | None]]) -> PublishedJWKS:
    """Assemble the published document from ``(key, public JWK JSON)`` pairs in id order."""
    members = [
        json.loads(public)
        for key, public in keys
        if key.state in PUBLISHED_STATES and public is not None
    ]
    body = json.dumps({"keys": members}, sort_keys=True, separators=(",", ":")).encode()
    etag = strong_etag(body)
    max_age, value = cache_control(info)
    return PublishedJWKS(
        body=body, etag=etag, max_age=max_age, cache_control=value, version=info.version
    )


class Publication:
    """The published document of each set, cached per set version (the publication part)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._cache: dict[str, PublishedJWKS] = {}

    def jwks(self, name: str) -> PublishedJWKS:
        """See :meth:`keywell.issuer.Issuer.jwks`."""
        with self._store.read() as conn:
            set_id, info = self._store.get_set(conn, name)
            cached = self._cache.get(name)
            if cached is not None and cached.version == info.version:
                return cached
            if not is_publishable(info.alg):
                raise KeySetError(
                    f"key set {name!r} uses {info.alg}: HMAC sets are never published"
                )
            published = build_published(info, self._store.public_jwks_rows(conn, set_id))
        self._cache[name] = published
        return published
