"""Where accepted DPoP proofs are remembered, so none is accepted twice (RFC 9449 section 11.1).

A proof is identified by the RFC 7638 thumbprint of its key and its ``jti``
(so one client cannot burn another's identifiers), hashed to a fixed-length
key. A store answers one question atomically: "add this key until
``expires_at``; was it already there?". An entry lives until
:meth:`~keywell.jose.DPoPPolicy.remember_until`: the end of the window in
which a proof with that ``iat`` is accepted, plus the leeway once more for
processes whose clocks differ; after that the ``iat`` check refuses the
proof anyway.

- :class:`MemoryReplayStore` (the default): one process, bounded; when full,
  the entries closest to expiry make room. If every entry is still live it
  refuses new proofs (:class:`~keywell.errors.DPoPReplayError`) rather than
  forget one: fail closed.
- :class:`RedisReplayStore`: many processes sharing a Redis server;
  ``SET key 1 NX PX ttl`` is the atomic step (needs the ``redis`` extra's
  client, passed in).
- ``keywell.store.dpop_replay.SQLReplayStore``: many processes sharing the
  key server's database (SQLite or PostgreSQL).
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import math
import threading
from typing import Any, Protocol, runtime_checkable

from keywell.errors import DPoPReplayError, ReplayStoreError

__all__ = ["MemoryReplayStore", "RedisReplayStore", "ReplayStore", "replay_key"]


def replay_key(jkt: str, jti: str) -> str:
    """The store key of a proof: hex SHA-256 over the key thumbprint and the ``jti``."""
    return hashlib.sha256(f"{jkt}\x00{jti}".encode()).hexdigest()


@runtime_checkable
class ReplayStore(Protocol):
    """Remembers proof keys until they expire; times are seconds since the epoch."""

    def first_use(self, key: str, expires_at: float, now: float) -> bool:
        """Record ``key`` until ``expires_at``; True if it was not recorded (or had expired).

        Must be atomic: of two concurrent calls with one key, one returns True.
        """


class MemoryReplayStore:
    """An in-process store of at most ``max_entries`` proofs (thread-safe).

    Raises:
        ValueError: ``max_entries`` is not a positive integer.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries <= 0:
            raise ValueError("max_entries must be a positive integer")
        self._max = max_entries
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """How many entries are held (expired ones included until purged)."""
        return len(self._expiry)

    def _purge(self, now: float) -> None:
        heap, expiry = self._heap, self._expiry
        while heap and heap[0][0] <= now:
            when, key = heapq.heappop(heap)
            if expiry.get(key) == when:
                del expiry[key]

    def first_use(self, key: str, expires_at: float, now: float) -> bool:
        """See :class:`ReplayStore`; raises DPoPReplayError when full of live entries."""
        with self._lock:
            seen = self._expiry.get(key)
            if seen is not None and seen > now:
                return False
            if len(self._expiry) >= self._max:
                self._purge(now)
                if len(self._expiry) >= self._max:
                    raise DPoPReplayError("too many recent DPoP proofs to remember another")
            self._expiry[key] = expires_at
            heapq.heappush(self._heap, (expires_at, key))
            if len(self._heap) > 2 * self._max:  # stale heap entries of re-used keys
                self._heap = [(w, k) for k, w in self._expiry.items()]
                heapq.heapify(self._heap)
            return True

    def __repr__(self) -> str:
        """The size, never the keys."""
        return f"<MemoryReplayStore {len(self._expiry)}/{self._max}>"


class RedisReplayStore:
    """A store shared by processes through Redis: ``SET prefix+key 1 NX PX ttl``.

    Args:
        client: a ``redis.Redis`` (synchronous) client.
        prefix: put before every key, to share a server with other data.
    """

    def __init__(self, client: Any, *, prefix: str = "keywell:dpop:") -> None:
        if not callable(getattr(client, "set", None)):
            raise TypeError("client must be a redis.Redis client")
        self._client = client
        self._prefix = prefix

    def first_use(self, key: str, expires_at: float, now: float) -> bool:
        """See :class:`ReplayStore`; a Redis failure raises ReplayStoreError."""
        ttl_ms = max(1, math.ceil((expires_at - now) * 1000))  # never shorter than asked
        try:
            return bool(self._client.set(self._prefix + key, b"1", nx=True, px=ttl_ms))
        except Exception as exc:  # any client or connection error: the store is unusable
            raise ReplayStoreError(f"the Redis replay store failed: {type(exc).__name__}") from exc

    async def afirst_use(self, key: str, expires_at: float, now: float) -> bool:
        """:meth:`first_use` in a worker thread, so the event loop is not blocked."""
        return await asyncio.to_thread(self.first_use, key, expires_at, now)

    def __repr__(self) -> str:
        """The prefix only."""
        return f"<RedisReplayStore prefix={self._prefix!r}>"
