"""Single flight: one fetch in progress, awaited by every thread and every asyncio task.

A :class:`Flight` is finished exactly once by its leader. Threads block on a
:class:`threading.Event`; asyncio tasks (on any event loop, in any thread)
await a future that the leader resolves with ``call_soon_threadsafe``, so a
sync leader can release async waiters and an async leader sync ones.
"""

from __future__ import annotations

import asyncio
import threading

from keywell.client.cache import Ticket

__all__ = ["Flight"]


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Flight:
    """One in-progress fetch that others wait for."""

    __slots__ = ("_done", "_lock", "_waiters", "abandoned", "ticket")

    def __init__(self, ticket: Ticket) -> None:
        self.ticket = ticket
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self.abandoned = False

    @property
    def done(self) -> bool:
        """Whether the leader has finished."""
        return self._done.is_set()

    def wait(self, timeout: float) -> bool:
        """Block this thread until the flight finishes or ``timeout`` passes."""
        return self._done.wait(timeout)

    async def wait_async(self, timeout: float) -> None:
        """Wait without blocking the event loop (up to ``timeout`` seconds)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._done.is_set():
                return
            self._waiters.append((loop, future))
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            return

    def finish(self, *, abandoned: bool = False) -> None:
        """Release every waiter; ``abandoned`` says no answer was recorded."""
        with self._lock:
            self.abandoned = abandoned
            self._done.set()
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            try:
                loop.call_soon_threadsafe(_resolve, future)
            except RuntimeError:  # that loop is closed; nobody is waiting there
                continue
