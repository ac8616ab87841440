"""The verified-token cache: a token verified once is served from memory while it still holds.

Every :class:`~keywell.Verifier` keeps one (``cache_size=0`` turns it off);
:class:`~keywell.client.MultiIssuerVerifier` shares one between the verifiers
it builds. The cache maps the exact token text to what its verification
found: the claims, the key that verified the signature, the ``kid``/``alg``
it was looked up by, and the key source's *generation* at that moment. A hit
is served only if, at that moment:

- the time claims still hold, by the one rule of
  :func:`~keywell.jose.claims.check_times` (``exp``, ``nbf``, ``iat``,
  ``max_age``, with the verifier's clock and leeway; RFC 7519 section 4.1);
- the key is still offered by the source. A source that can say its keys
  have not changed (:func:`generation_of`: a static :class:`~keywell.JWK` or
  :class:`~keywell.JWKSet` never changes; a ``RemoteJWKSet`` numbers each set
  it adopts and answers ``None`` once the set is due for a refresh) costs one
  integer compare; otherwise one lookup of the entry's ``kid``/``alg`` in the
  current keys (:func:`key_still_offered`), after which the entry carries the
  new generation. A refresh that drops or replaces a key thus invalidates
  every token it verified at once, with no scan of the cache.

Anything else sends the token down the full verification path, which gives
exactly the verdict (and error) an uncached verifier gives; only successes
are ever stored, so forged tokens cannot fill the cache. What changes a
verdict besides the token and the time (issuer, audience, algorithms,
required claims, ``typ``, ``max_size``) is fixed per verifier, and an entry
serves only the verifier that stored it.

Claims are returned read-only (``MappingProxyType``). A flat payload (no
nested object or array) is shared between hits: nothing in it can be
mutated. Claims with nested arrays or objects are copied per hit (their
containers only, :func:`copy_claims`; 1.5 µs for a typical nested payload,
against 1.9 µs to parse the JSON again and 5.4 µs for ``copy.deepcopy``),
so no caller can change what another one sees.

Bounds: ``max_entries`` and ``max_bytes`` (an over-estimate of the memory an
entry holds, :func:`entry_size`); the least recently used entries go first
(CLOCK: a hit sets a bit, eviction gives a set bit a second chance). While
there is room a token is stored at its first success; once the cache is full
a token must succeed twice before it displaces another (a doorkeeper of the
last few thousand first successes, by the token's hash, as in TinyLFU), so a
stream of tokens seen once neither flushes the tokens in use nor pays for
storing itself. Lookups
take no lock; inserts and evictions take one, so threads and asyncio tasks
may share a verifier. Hit counts are kept without a lock (exact under the GIL).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from keywell.jose.jwk import JWK
from keywell.jose.jwkset import JWKSet

__all__ = [
    "DEFAULT_CACHE_BYTES",
    "DEFAULT_CACHE_SIZE",
    "CacheEntry",
    "TokenCache",
    "TokenCacheHealth",
    "check_bounds",
    "copy_claims",
    "entry_size",
    "generation_of",
    "key_still_offered",
]

#: Default most tokens kept per verifier.
DEFAULT_CACHE_SIZE = 10_000
#: Default most bytes (as counted by :func:`entry_size`, an over-estimate) per
#: verifier: 19 MiB, so the cache stays under 20 MB (10^6 bytes) whatever the tokens.
DEFAULT_CACHE_BYTES = 19 * 1024 * 1024

# Bytes an entry costs besides its token and claims: the entry object, its
# ordered-dict node and hash slot, the returned mapping proxy; and bytes per
# JSON member or value (its name or value object and its table slot). Fitted
# with tracemalloc over payload shapes from one tiny claim to 40 string claims,
# nested arrays and empty objects (tests/jose/test_token_cache_memory.py checks
# that the count never falls below the memory measured).
_ENTRY_OVERHEAD = 400
# Tokens the doorkeeper remembers, at most (their hashes: ~0.25 MB besides max_bytes).
_DOOR_SIZE = 4096
_PER_MEMBER = 128
_PER_NESTED_ITEM = 80

Generation = Callable[[], "int | None"]


def _unknown() -> None:
    return None


def generation_of(keys: object) -> Generation | None:
    """How to tell that ``keys`` still offers what it offered: the rule for every source.

    Returns ``None`` for a source that never changes (a :class:`JWK` or a
    :class:`JWKSet`: both immutable); the source's own ``key_generation``
    when it has one (an int that changes whenever its keys change, or
    ``None`` when a lookup is due, e.g. a remote set past its freshness);
    else a function always answering ``None``: every hit then looks the key
    up in the source.
    """
    if type(keys) is JWK or type(keys) is JWKSet:
        return None
    method = getattr(keys, "key_generation", None)
    return method if callable(method) else _unknown


def key_still_offered(entry: CacheEntry, found: tuple[JWK, ...]) -> bool:
    """Whether ``found`` (the source's keys for the entry's kid and alg) holds its key.

    The same object, or an equal key (all members equal: a refetched,
    unchanged set parses into new objects); then the entry takes that object.
    """
    key = entry.key
    for candidate in found:
        if candidate is key or candidate == key:
            entry.key = candidate
            return True
    return False


def entry_size(token: str, payload: bytes, members: int, shared: bool) -> int:
    """An over-estimate of the bytes one entry holds: its token, claims and bookkeeping.

    ``members`` is the number of top-level claims; a payload that is not
    ``shared`` (it nests arrays or objects) also pays for every value and
    container its text may hold.
    """
    size = _ENTRY_OVERHEAD + len(token) + len(payload) + _PER_MEMBER * members
    if not shared:
        items = payload.count(b",") + payload.count(b"{") + payload.count(b"[")
        size += _PER_NESTED_ITEM * items
    return size


def _copy(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {k: _copy(v) for k, v in value.items()}
    if kind is list:
        return [_copy(v) for v in value]
    return value  # str, int, float, bool, None: immutable


def copy_claims(claims: dict[str, Any]) -> dict[str, Any]:
    """A copy of parsed JSON claims sharing only immutable values (the containers are new)."""
    out = dict(claims)
    for name, value in claims.items():
        kind = type(value)
        if kind is dict or kind is list:
            out[name] = _copy(value)
    return out


def check_bounds(max_entries: int, max_bytes: int) -> None:
    """Refuse bounds that are not non-negative integers (``ValueError`` naming the option)."""
    for name, value in (("cache_size", max_entries), ("cache_bytes", max_bytes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer")


class CacheEntry:
    """One verified token: what a hit needs to re-check and to answer."""

    __slots__ = (
        "alg",
        "claims",
        "exp",
        "gen",
        "iat",
        "key",
        "kid",
        "nbf",
        "nested",
        "owner",
        "ref",
        "size",
    )

    def __init__(
        self,
        owner: object,
        claims: Mapping[str, Any] | None,
        nested: dict[str, Any] | None,
        key: JWK,
        kid: str | None,
        alg: str,
        gen: int | None,
        size: int,
        times: tuple[Any, Any, Any],
    ) -> None:
        """Hold the verdict of one verification; see the module docstring."""
        self.owner = owner
        self.claims = claims
        self.nested = nested
        self.key = key
        self.kid = kid
        self.alg = alg
        self.gen = gen
        self.size = size
        self.exp, self.nbf, self.iat = times
        self.ref = True  # just used: CLOCK must not evict a newcomer first


@dataclass(frozen=True, slots=True)
class TokenCacheHealth:
    """A snapshot of a verified-token cache (for metrics and dashboards).

    ``hits`` are tokens served from the cache; ``misses`` are full
    verifications (whatever their outcome: only successes are stored);
    ``evictions`` entries dropped for room; ``invalidations`` entries dropped
    because a re-check failed (an expired token, a key no longer in the source).
    """

    entries: int
    bytes: int
    max_entries: int
    max_bytes: int
    hits: int
    misses: int
    evictions: int
    invalidations: int


class TokenCache:
    """The bounded map token text -> :class:`CacheEntry`; see the module docstring.

    Args:
        max_entries: most tokens kept (0 keeps none).
        max_bytes: most bytes kept, as :func:`entry_size` counts them.
    """

    __slots__ = (
        "_bytes",
        "_door",
        "_door_size",
        "_entries",
        "_lock",
        "evictions",
        "hits",
        "invalidations",
        "max_bytes",
        "max_entries",
        "misses",
    )

    def __init__(
        self, max_entries: int = DEFAULT_CACHE_SIZE, max_bytes: int = DEFAULT_CACHE_BYTES
    ) -> None:
        """Check the bounds; start empty."""
        check_bounds(max_entries, max_bytes)
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()
        self._lock = threading.Lock()
        self._bytes = 0
        self._door: set[int] = set()
        self._door_size = _DOOR_SIZE
        self.hits = self.misses = self.evictions = self.invalidations = 0

    def get(self, token: str) -> CacheEntry | None:
        """The entry for exactly this token text, or None (no lock, no side effect)."""
        return self._entries.get(token)

    def serve(self, entry: CacheEntry) -> Mapping[str, Any]:
        """Count a hit and return the entry's claims, read-only and not shared if mutable."""
        entry.ref = True
        self.hits += 1
        claims = entry.claims
        if claims is not None:
            return claims
        return MappingProxyType(copy_claims(entry.nested or {}))

    def put(
        self,
        owner: object,
        token: str,
        claims: dict[str, Any],
        payload: bytes,
        key: JWK,
        kid: str | None,
        alg: str,
        gen: int | None,
    ) -> Mapping[str, Any]:
        """Store a successful verification; return the claims to hand to the caller."""
        entries = self._entries
        if (
            len(entries) >= self.max_entries
            or self._bytes + _ENTRY_OVERHEAD + 2 * len(token) > self.max_bytes
        ) and not self._seen_before(token):
            return MappingProxyType(claims)  # full: only a second success displaces
        shared = payload.find(b"{", 1) < 0 and b"[" not in payload  # no nested container
        view = MappingProxyType(claims)
        size = entry_size(token, payload, len(claims), shared)
        if size > self.max_bytes or not self.max_entries:
            return view
        times = (claims.get("exp"), claims.get("nbf"), claims.get("iat"))
        entry = CacheEntry(
            owner, view if shared else None, None if shared else copy_claims(claims), key,
            kid, alg, gen, size, times,
        )  # fmt: skip
        with self._lock:
            old = entries.pop(token, None)
            if old is not None:
                self._bytes -= old.size
            entries[token] = entry
            self._bytes += size
            if len(entries) > self.max_entries or self._bytes > self.max_bytes:
                self._evict()
        return view

    def _seen_before(self, token: str) -> bool:
        """Whether ``token`` succeeded recently without being stored; remember it if not."""
        door = self._door
        mark = hash(token)  # computed by the lookup already: a str caches its hash
        if mark in door:
            door.discard(mark)
            return True
        if len(door) >= self._door_size:
            door.clear()  # forget them all: a bounded, cheap reset
        door.add(mark)
        return False

    def _evict(self) -> None:
        """Drop least recently used entries until both bounds hold (under the lock)."""
        entries = self._entries
        while len(entries) > self.max_entries or self._bytes > self.max_bytes:
            token, entry = entries.popitem(last=False)
            if entry.ref and len(entries) >= 1:
                entry.ref = False  # a second chance: used since it last came round
                entries[token] = entry
                continue
            self._bytes -= entry.size
            self.evictions += 1

    def drop(self, token: str, entry: CacheEntry) -> None:
        """Remove ``entry`` (a re-check failed) if it is still the one stored for ``token``."""
        with self._lock:
            if self._entries.get(token) is entry:
                del self._entries[token]
                self._bytes -= entry.size
                self.invalidations += 1

    def clear(self) -> None:
        """Forget every entry (the counters stay)."""
        with self._lock:
            self._entries.clear()
            self._door.clear()
            self._bytes = 0

    def health(self) -> TokenCacheHealth:
        """A snapshot of the sizes and counters."""
        with self._lock:
            return TokenCacheHealth(
                entries=len(self._entries),
                bytes=self._bytes,
                max_entries=self.max_entries,
                max_bytes=self.max_bytes,
                hits=self.hits,
                misses=self.misses,
                evictions=self.evictions,
                invalidations=self.invalidations,
            )

    def __len__(self) -> int:
        """The number of tokens held."""
        return len(self._entries)

    def __repr__(self) -> str:
        """Sizes only, never a token or a claim."""
        return f"<TokenCache entries={len(self._entries)} bytes={self._bytes}>"
