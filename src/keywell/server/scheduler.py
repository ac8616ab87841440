"""Background work of every replica: ``tick`` on a timer, and change detection.

Each replica calls :meth:`Issuer.tick` every ``tick_interval`` seconds; the store
makes each transition happen exactly once however many replicas tick. Changes
made through any replica bump the set's version counter, which every replica
polls every ``poll_interval`` seconds (:meth:`Issuer.versions` is one cheap
query) to rebuild its published documents, so a rotation through one replica
is served by all the others within that delay. The Issuer's calls block, so
they run in worker threads; one failing round is logged and retried.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import anyio.to_thread

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
    """

    def __init__(
        self,
        issuer: Issuer,
        registry: Registry,
        metrics: Metrics,
        *,
        tick_interval: float,
        poll_interval: float,
    ) -> None:
        self.issuer = issuer
        self.registry = registry
        self.metrics = metrics
        self.tick_interval = tick_interval
        self.poll_interval = poll_interval
        self._refresh_lock = anyio.Lock()

    async def refresh(self, *, force: bool = False) -> list[str]:
        """Re-read changed sets now (also called after an admin change on this replica)."""
        async with self._refresh_lock:
            changed = await anyio.to_thread.run_sync(
                lambda: self.registry.refresh(self.issuer, force=force)
            )
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
                    log.error("%s failed: %s", step, type(exc).__name__, extra={"code": _code(exc)})
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
