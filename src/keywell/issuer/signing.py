"""The signing hot path: the active key cached in memory, the database left alone.

An entry holds the active key's decrypted private JWK, the set's issuer and
TTL limits, and two deadlines: a monotonic one (``sign_cache_ttl``, bounded by
the set's ``clock_skew``) and the set's next planned rotation in issuer-clock
time. Until either passes, :meth:`SignerCache.sign` costs one dict lookup, a
clock read, a ``jti`` and the signature itself.

Consistency: in this process, rotate/revoke/update_policy drop the entry at
once, and a load that was reading the store while they committed is thrown
away and redone (a per-set generation counter), so a revoked key is never
cached after its revocation returned. Another process's revoke or emergency
rotation is seen here within ``sign_cache_ttl`` at most, and within one poll
interval in a server (its scheduler drops the entry when the set's version
moves). A key retired in the meantime
by another replica may still sign for that long; its publication lasts
``max_token_ttl + clock_skew`` after retirement and the cache TTL never
exceeds ``clock_skew``, so such tokens stay verifiable until they expire.
"""

from __future__ import annotations

import json
import math
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from keywell.custody.base import SignFn
from keywell.errors import (
    ClaimError,
    CustodyError,
    KeySetError,
    KeywellError,
    PolicyError,
    TokenTooLargeError,
)
from keywell.jose._compact import compact, encode_header
from keywell.jose.jwk import JWK
from keywell.jose.jws import DEFAULT_MAX_TOKEN_SIZE
from keywell.jose.registered import check_claim_types
from keywell.lifecycle.names import is_keyset_name, known_name

__all__ = ["SignerCache", "SignerEntry", "check_minted"]

_RESERVED = frozenset({"iat", "exp", "jti"})
_monotonic = time.monotonic
# As jwt.encode: NaN and Infinity are not JSON, so no verifier would accept them.
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
_LOAD_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class SignerEntry:
    """A cached signer: the key, the claim defaults and when to look again.

    ``key`` is the private JWK of a ``db`` key; for a key in a custody backend
    it is the public JWK (its ``kid`` and ``alg`` make the header) and
    ``sign_fn`` signs through the backend (I/O: never called on an event loop
    by :meth:`SignerCache.try_sign_cached`).
    """

    key: JWK
    issuer: str
    max_ttl: float
    mono_expiry: float
    valid_until: float  # epoch seconds of the next planned rotation (inf if none)
    sign_fn: SignFn | None = None


_Cached = tuple[SignerEntry, str, Callable[[bytes], bytes]]


class SignerCache:
    """Per-set cached signers, refreshed through ``loader(name, now)``.

    Args:
        loader: reads the store (and performs a due rotation) for one set.
        timestamp: the issuer clock as epoch seconds (``time.time`` by default).
    """

    def __init__(
        self,
        loader: Callable[[str, datetime], SignerEntry],
        timestamp: Callable[[], float],
    ) -> None:
        self._loader = loader
        self._timestamp = timestamp
        self._entries: dict[str, _Cached] = {}
        self._generations: dict[str, int] = {}
        self._epoch = 0  # bumped by invalidate() of every set
        self._lock = threading.Lock()

    def invalidate(self, name: str | None = None) -> None:
        """Forget one set's signer (or all): the next sign re-reads the store.

        Bumps the set's generation, so a load already reading the store when
        this is called (and which may have read a key revoked meanwhile) is
        discarded instead of cached.
        """
        if name is not None and not is_keyset_name(name):
            return  # names no set (and must not grow the generations map)
        with self._lock:
            if name is None:
                self._entries.clear()
                self._epoch += 1
            else:
                self._entries.pop(name, None)
                self._generations[name] = self._generations.get(name, 0) + 1

    def _generation(self, name: str) -> tuple[int, int]:
        return self._epoch, self._generations.get(name, 0)

    def _load(self, name: str) -> _Cached:
        """Read the set's signer; cache it only if nothing invalidated it during the read."""
        for _ in range(_LOAD_ATTEMPTS):
            with self._lock:
                started = self._generation(name)
            ts = self._timestamp()
            entry = self._loader(name, datetime.fromtimestamp(ts, UTC))
            if entry.sign_fn is None:
                alg, sign_fn = entry.key.signer()
            else:
                alg, sign_fn = entry.key.alg or "", entry.sign_fn
            cached = (entry, encode_header(alg, entry.key.kid, None, "JWT"), sign_fn)
            with self._lock:
                if self._generation(name) == started:
                    self._entries[name] = cached
                    return cached
        raise KeySetError(f"key set {name!r} keeps changing while its signer loads; try again")

    def cached(self, name: str) -> _Cached | None:
        """The set's signer if it is in memory and still valid, else ``None`` (no I/O)."""
        cached = self._entries.get(name) if is_keyset_name(name) else None
        if cached is None:
            return None
        entry = cached[0]
        if self._timestamp() >= entry.valid_until or _monotonic() >= entry.mono_expiry:
            return None
        return cached

    def sign(self, name: str, claims: Mapping[str, Any], ttl: timedelta | float | None) -> str:
        """Sign ``claims`` with the set's active key; sets iss, iat, exp, jti and kid.

        The token is what :func:`keywell.jose.jwt.encode` produces (header
        ``{"alg", "typ": "JWT", "kid"}``, compact JSON payload), built from the
        JWK's own signer with the header segment computed once per entry.
        """
        cached = self.cached(name) or self._load(known_name(name))
        return self._encode_reloading(name, cached, claims, ttl)

    def sign_if_loaded(
        self, name: str, claims: Mapping[str, Any], ttl: timedelta | float | None
    ) -> str | None:
        """Sign with the in-memory signer (a custody key: a backend call); ``None`` on a miss."""
        cached = self.cached(name)
        return None if cached is None else self._encode_reloading(name, cached, claims, ttl)

    def _encode_reloading(
        self, name: str, cached: _Cached, claims: Mapping[str, Any], ttl: timedelta | float | None
    ) -> str:
        """Sign; a custody key the backend refuses is dropped and the set's signer read again.

        Another replica may have revoked (and destroyed) the cached key: the
        fresh signer is the set's new active key. If the store still names
        the same key, the backend's :class:`CustodyError` is raised as is.
        """
        try:
            return self._encode(cached, claims, ttl)
        except CustodyError as refused:
            # Read the store again without invalidating: an invalidation would make
            # every concurrent load (the other refused signs) start over until one
            # gives up with "keeps changing", hiding the backend's own error.
            try:
                fresh = self._load(known_name(name))
            except KeywellError:
                raise refused from None
            if fresh[0].key.kid == cached[0].key.kid:
                raise
            return self._encode(fresh, claims, ttl)

    def try_sign_cached(
        self, name: str, claims: Mapping[str, Any], ttl: timedelta | float | None
    ) -> str | None:
        """Like :meth:`sign`, but ``None`` instead of any I/O.

        ``None`` on a cache miss (the store would be read) and for a key in a
        custody backend (signing is a backend call).
        """
        cached = self.cached(name)
        if cached is None or cached[0].sign_fn is not None:
            return None
        return self._encode(cached, claims, ttl)

    def _encode(
        self, cached: _Cached, claims: Mapping[str, Any], ttl: timedelta | float | None
    ) -> str:
        ts = self._timestamp()
        entry, header, sign_fn = cached
        if ttl is None:
            seconds = entry.max_ttl
        else:
            seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else float(ttl)
            if not seconds > 0 or math.isinf(seconds):
                raise ValueError("ttl must be a positive, finite duration")
            if seconds > entry.max_ttl:
                raise PolicyError(
                    f"ttl {seconds:g}s exceeds the key set's max_token_ttl {entry.max_ttl:g}s",
                    setting="max_token_ttl",
                )
        if type(claims) is not dict and not isinstance(claims, Mapping):
            raise TypeError("claims must be a mapping")
        body = dict(claims)
        if not _RESERVED.isdisjoint(body):
            raise ValueError("iat, exp and jti are set by the issuer, not the caller")
        body.setdefault("iss", entry.issuer)
        body["iat"] = int(ts)
        body["exp"] = math.floor(ts + seconds)
        body["jti"] = secrets.token_urlsafe(16)
        check_minted(body)
        if body["iss"] != entry.issuer:
            raise ValueError("iss must be the key set's issuer")
        try:
            text = _dumps(body)
        except ValueError:  # NaN or an infinity: JSON has no number for it (RFC 8259 section 6)
            name = next(n for n, v in body.items() if not _finite(v))
            raise ClaimError(
                f"claim {name[:64]!r} holds a number JSON cannot carry", claim=name, reason="type"
            ) from None
        token = compact(header, text.encode(), sign_fn)
        if len(token) > DEFAULT_MAX_TOKEN_SIZE:
            raise TokenTooLargeError(
                f"the token would be longer than {DEFAULT_MAX_TOKEN_SIZE} characters, "
                "which verifiers refuse by default (max_size); send fewer claims"
            )
        return token


def _finite(value: Any) -> bool:
    """Whether a claim value holds no NaN or infinity, however deep."""
    if type(value) is float:
        return math.isfinite(value)
    if isinstance(value, Mapping):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_finite(v) for v in value)
    return True


def check_minted(claims: Mapping[str, Any]) -> None:
    """Refuse to sign ``claims`` that no keywell verifier would accept (RFC 8725 section 3.11).

    Registered claims must have their JSON type (RFC 7519 section 4.1, the
    table of :mod:`keywell.jose.registered`), and an ``nbf`` must lie before
    ``exp`` (section 4.1.5: else the token is never valid). The size rule
    (``DEFAULT_MAX_TOKEN_SIZE``, the default verifier's ``max_size``) is
    applied to the signed token by :meth:`SignerCache.sign`.

    Raises:
        ClaimError: naming the claim (reason ``"type"`` or ``"never-valid"``).
    """
    check_claim_types(claims)
    if "nbf" in claims and "exp" in claims and not claims["nbf"] < claims["exp"]:
        raise ClaimError(
            "nbf must be before the token's exp, or the token is never valid",
            claim="nbf",
            reason="never-valid",
        )
