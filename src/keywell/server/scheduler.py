"""Background work of every replica: ``tick`` on a timer, and change detection.

Each replica calls :meth:`Issuer.tick` every ``tick_interval`` seconds; the store
makes each transition happen exactly once however many replicas tick. Changes
made through any replica bump the set's version counter, which every replica
polls every ``poll_interval`` seconds (:meth:`Issuer.versions` is one cheap
query) to rebuild its published documents, so a rotation through one replica
is served by all the others within that delay. The Issuer's calls block, so
they run in worker threads; one failing round is logged and retried.

The poll alone bounds nothing when it does not run (a replica stopped with
SIGSTOP answers its queued requests on SIGCONT before its poller wakes), so
:meth:`Scheduler.ensure_fresh` is awaited by every public request whose
snapshot is older than ``max_staleness``: one version check in flight, shared
by all waiters. If the store cannot be reached, the last documents are served
(stale-if-error), logged once per outage, and the request path retries the
store at most once per ``poll_interval`` meanwhile.

A replica whose KEKs cannot open what the store needs (another replica
rotated the KEK ring, DESIGN.md invariant 7) writes no key material: every
transaction that would seal a key re-checks the ring first and raises
:class:`~keywell.errors.KEKError`, so its ticks fail (logged once, with the
KEK ids it has and the ids the store needs) and ``/readyz`` answers 503
(:meth:`Issuer.check_ready` runs the same check) until the ring is fixed.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import anyio.to_thread

from keywell.errors import KEKError
from keywell.server.logs import log_event
from keywell.server.metrics import Metrics
from keywell.server.published import Registry

if TYPE_CHECKING:
    from keywell.issuer import Issuer

__all__ = ["Scheduler"]

log = logging.getLogger("keywell.server.scheduler")


class Scheduler:
    """Run ``tick`` and the version poll in a task group until cancelled.

    Args:
        issuer: the key store.
        registry: the published documents to keep current.
        metrics: where transitions are counted.
        tick_interval: seconds between ticks.
        poll_interval: seconds between version polls.
        max_staleness: the oldest snapshot a public request may be served from.
    """

    def __init__(
        self,
        issuer: Issuer,
        registry: Registry,
        metrics: Metrics,
        *,
        tick_interval: float,
        poll_interval: float,
        max_staleness: float | None = None,
    ) -> None:
        self.issuer = issuer
        self.registry = registry
        self.metrics = metrics
        self.tick_interval = tick_interval
        self.poll_interval = poll_interval
        self.max_staleness = max_staleness if max_staleness is not None else 2.5 * poll_interval
        self._refresh_lock = anyio.Lock()
        self._flight: anyio.Event | None = None
        self._retry_at = 0.0
        self._serving_stale = False

    def is_fresh(self) -> bool:
        """The snapshot's last version check started at most ``max_staleness`` ago."""
        return self.registry.age() <= self.max_staleness

    async def ensure_fresh(self) -> None:
        """Make the snapshot fresh before a public request is answered (single flight).

        Returns at once when it is fresh; otherwise waits for one version
        check shared with every concurrent caller. When the store fails, the
        last snapshot is kept (stale-if-error) and logged once per outage.
        """
        if self.is_fresh():
            return
        flight = self._flight
        if flight is not None:
            await flight.wait()
            return
        if time.monotonic() < self._retry_at:
            return  # the store failed moments ago: serve the last documents
        flight = self._flight = anyio.Event()
        try:
            await self.refresh(if_stale=True)
        except Exception as exc:
            self._retry_at = time.monotonic() + self.poll_interval
            if not self._serving_stale:
                self._serving_stale = True
                log.warning(
                    "store unreachable: serving the last published documents (stale-if-error)",
                    extra={"code": _code(exc)},
                )
        finally:
            self._flight = None
            flight.set()

    async def refresh(self, *, force: bool = False, if_stale: bool = False) -> list[str]:
        """Re-read changed sets now; ``if_stale``: unless a refresh just made the snapshot fresh."""
        async with self._refresh_lock:
            if if_stale and self.is_fresh():
                return []
            changed = await anyio.to_thread.run_sync(
                lambda: self.registry.refresh(self.issuer, force=force)
            )
        if self._serving_stale:
            self._serving_stale = False
            log.warning("store reachable again: published documents are current")
        if changed:
            log.debug("published documents refreshed", extra={"keysets": ",".join(changed)})
        return changed

    async def tick_once(self) -> None:
        """One scheduler round: perform due transitions, then refresh if any happened."""
        transitions = await anyio.to_thread.run_sync(self.issuer.tick)
        if transitions:
            self.metrics.count_transitions(transitions)
            for t in transitions:
                log_event(
                    log,
                    "transition",
                    keyset=t.keyset,
                    kid=t.kid,
                    old_state=str(getattr(t.old_state, "value", t.old_state)),
                    new_state=str(getattr(t.new_state, "value", t.new_state)),
                    reason=t.reason,
                )
            await self.refresh()

    async def _loop(self, step: str, interval: float) -> None:
        failing = False
        while True:
            try:
                if step == "tick":
                    await self.tick_once()
                else:
                    await self.refresh()
                if failing:
                    log.warning("%s recovered", step)
                failing = False
            except Exception as exc:  # keep the replica serving its last good snapshot
                if not failing:
                    # a KEKError message names KEK ids only; others may carry SQL parameters
                    why = str(exc) if isinstance(exc, KEKError) else type(exc).__name__
                    log.error("%s failed: %s", step, why, extra={"code": _code(exc)})
                failing = True
            await anyio.sleep(interval)

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Start both loops; returns only when cancelled."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._loop, "poll", self.poll_interval)
            tg.start_soon(self._loop, "tick", self.tick_interval)
            task_status.started()


def _code(exc: BaseException) -> str:
    return str(getattr(exc, "code", type(exc).__name__))
