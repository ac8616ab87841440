"""HTTP calls to a custody backend bounded in total time and in answer size.

``requests`` (and so ``hvac``) bounds each socket read, not a call: a server
that trickles its answer a byte at a time within the read timeout holds the
call for as long as it likes, and an answer of any size is read into memory.
:class:`BoundedAdapter`, mounted on the session a backend client uses, ends
every request within ``deadline`` seconds in total (one watchdog thread per
process shuts the connection's socket down; the call raises
:class:`requests.exceptions.ReadTimeout`) and reads at most ``max_bytes`` of an
answer (:class:`AnswerTooLarge`). Every HTTP backend uses it: Transit through
``hvac``'s session, AWS KMS through botocore's ``before-send`` event
(:mod:`keywell.custody.awskms_http`); :data:`MAX_ANSWER` is their size bound.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
from typing import Any

import requests
import requests.adapters
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

__all__ = ["MAX_ANSWER", "AnswerTooLarge", "BoundedAdapter"]

#: The longest answer keywell reads from a custody backend (bytes): any real answer is
#: a few KiB, and a longer one is refused before it fills memory.
MAX_ANSWER = 8 * 1024 * 1024

_CHUNK = 64 * 1024


class AnswerTooLarge(requests.exceptions.RequestException):
    """The backend's answer was longer than the adapter's ``max_bytes``."""


class _Watch:
    """The connections one request used; :meth:`fire` shuts their sockets down."""

    def __init__(self) -> None:
        self.conns: list[HTTPConnection] = []
        self.fired = False
        self.done = False  # the request ended: the watchdog forgets it
        self._lock = threading.Lock()

    def add(self, conn: HTTPConnection) -> None:
        with self._lock:
            self.conns.append(conn)
            fired = self.fired
        if fired:
            self._shut(conn)

    def fire(self) -> None:
        with self._lock:
            if self.done:
                return
            self.fired = True
            conns = list(self.conns)
        for conn in conns:
            self._shut(conn)

    @staticmethod
    def _shut(conn: HTTPConnection) -> None:
        sock = conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread firing every armed watch whose deadline passed (no thread per call)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Watch]] = []
        self._seq = itertools.count()
        self._pid = 0

    def arm(self, delay: float, watch: _Watch) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._seq), watch))
            if self._pid != os.getpid():  # first use, or a forked child: no thread yet
                self._pid = os.getpid()
                threading.Thread(
                    target=self._run, name="keywell-http-deadlines", daemon=True
                ).start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                left = self._heap[0][0] - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                watch = heapq.heappop(self._heap)[2]
            watch.fire()


_watchdog = _Watchdog()
_current = threading.local()


class _Watched:
    def request(self, *args: Any, **kwargs: Any) -> Any:
        watch: _Watch | None = getattr(_current, "watch", None)
        if watch is not None:
            watch.add(self)  # type: ignore[arg-type]
        return super().request(*args, **kwargs)  # type: ignore[misc]


class _Conn(_Watched, HTTPConnection):
    pass


class _SConn(_Watched, HTTPSConnection):
    pass


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Conn


class _SPool(HTTPSConnectionPool):
    ConnectionCls = _SConn


class BoundedAdapter(requests.adapters.HTTPAdapter):
    """An adapter ending each request within ``deadline`` s and reading at most ``max_bytes``."""

    def __init__(self, *, deadline: float, max_bytes: int, pool_maxsize: int = 10) -> None:
        self._deadline = deadline
        self._max_bytes = max_bytes
        super().__init__(max_retries=0, pool_maxsize=pool_maxsize)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """The pool manager, its pools making watched connections."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _SPool}

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, stream: bool = False, **kwargs: Any
    ) -> requests.Response:
        """Send ``request`` and read its answer, both within the deadline and the size bound.

        Raises:
            requests.exceptions.ReadTimeout: the deadline passed.
            AnswerTooLarge: the answer is longer than ``max_bytes``.
        """
        watch = _Watch()
        _current.watch = watch
        _watchdog.arm(self._deadline, watch)
        try:
            response = super().send(request, stream=True, **kwargs)
            body = bytearray()
            for chunk in response.raw.stream(_CHUNK, decode_content=True):
                body += chunk
                if len(body) > self._max_bytes:
                    response.close()
                    raise AnswerTooLarge(f"the answer is longer than {self._max_bytes} bytes")
            if watch.fired:  # cut short by the deadline: an answer ended by our shutdown
                raise requests.exceptions.ReadTimeout("deadline")
            response._content = bytes(body)  # read here, bounded: requests keeps it
            return response
        except AnswerTooLarge:
            raise
        except Exception:
            if watch.fired:
                raise requests.exceptions.ReadTimeout(
                    f"no complete answer within {self._deadline:g} s"
                ) from None
            raise
        finally:
            watch.done = True
            _current.watch = None
