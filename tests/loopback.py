"""Loopback HTTP servers for tests that start in a thread and stop at once.

``socketserver.BaseServer.serve_forever`` checks its shutdown flag every
``poll_interval`` seconds (0.5 by default), so each ``shutdown()`` used to cost
up to half a second of a test's teardown. Here the loop polls every
:data:`POLL_INTERVAL` seconds instead: a stop returns within that bound.
"""

from __future__ import annotations

import threading
from socketserver import BaseServer

POLL_INTERVAL = 0.01  # seconds between two checks of the shutdown flag


def start(server: BaseServer) -> threading.Thread:
    """Serve ``server`` in a daemon thread until :func:`stop`; returns the thread."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": POLL_INTERVAL}, daemon=True
    )
    thread.start()
    return thread


def stop(server: BaseServer) -> None:
    """Stop the loop (within :data:`POLL_INTERVAL`) and close the listening socket."""
    server.shutdown()
    server.server_close()
