"""The custody part of the Issuer: backend readiness (cached) and orphan reconciliation.

Readiness: ``/readyz`` calls :meth:`Issuer.check_ready` on every probe; a
backend answering ``check()`` every time would be hammered by load balancers,
so :class:`CustodyHealth` remembers each custody's last answer (success or
:class:`~keywell.errors.CustodyError`) for ``ttl`` seconds (monotonic time).

Reconciliation (:mod:`keywell.store.custody_keys`): every tick may list the
backend keys of every custody set, which costs a backend round trip per set;
:class:`Reconciler` does it for each set at most once per ``interval``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from keywell.custody.uri import open_custody
from keywell.errors import CustodyError
from keywell.store import catalog, custody_keys
from keywell.store.repository import Store

__all__ = ["CustodyHealth", "Reconciler"]


class CustodyHealth:
    """Each custody's last ``check()`` outcome, reused for ``ttl`` seconds."""

    def __init__(self, ttl: float = 5.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._monotonic = monotonic
        self._seen: dict[str, tuple[float, CustodyError | None]] = {}
        self._lock = threading.Lock()

    def check(self, uri: str) -> None:
        """Raise :class:`CustodyError` if the custody ``uri`` failed its check (maybe cached)."""
        now = self._monotonic()
        with self._lock:
            seen = self._seen.get(uri)
        if seen is None or now - seen[0] >= self._ttl:
            error: CustodyError | None = None
            try:
                backend = open_custody(uri)
                if backend is not None:
                    backend.check()
            except CustodyError as exc:
                error = exc
            seen = (now, error)
            with self._lock:
                self._seen[uri] = seen
        if seen[1] is not None:
            raise seen[1]

    def forget(self) -> None:
        """Drop every remembered outcome (the next check asks the backends)."""
        with self._lock:
            self._seen.clear()


class Reconciler:
    """Destroys orphaned backend keys of custody sets, each set at most once per ``interval``."""

    def __init__(
        self,
        store: Store,
        *,
        interval: float = 300.0,
        grace: timedelta = custody_keys.ORPHAN_GRACE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._interval = interval
        self.grace = grace
        self._monotonic = monotonic
        self._last: dict[str, float] = {}

    def run(
        self,
        now: datetime,
        *,
        name: str | None = None,
        force: bool = False,
        grace: timedelta | None = None,
    ) -> int:
        """Reconcile ``name`` (or every set not reconciled within ``interval``; all if ``force``).

        ``grace`` overrides the age an unnamed backend key must reach.

        Returns the count of orphaned keys destroyed.

        Raises:
            CustodyError: a backend could not be listed (the other sets had their turn).
        """
        mono = self._monotonic()
        names = [name] if name is not None else [s.name for s in catalog.list_sets(self._store)]
        count = 0
        failed: CustodyError | None = None
        for each in names:
            if not force and mono - self._last.get(each, -self._interval) < self._interval:
                continue
            try:
                count += custody_keys.reconcile(
                    self._store, each, now=now, grace=self.grace if grace is None else grace
                )
            except CustodyError as exc:
                failed = failed or exc
            else:
                self._last[each] = mono
        if failed is not None:
            raise failed
        return count
