"""A real ``keywell serve`` on a real SQLite file or PostgreSQL database, and a client for it.

Shared by the hostile-input table and the admin-body fuzz: ``backend`` is
``"sqlite"`` or ``"postgres"`` (a throw-away database from
``tests/store/pgutil.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import httpx

from tests.server.serve_process import Served
from tests.store.pgutil import fresh_database


@contextmanager
def served_on(backend: str, tmp: Path) -> Iterator[tuple[Served, httpx.Client]]:
    """The server process on ``backend`` (stopped on exit) and an HTTP/1.1 client for it."""
    if backend == "sqlite":
        server = Served(f"sqlite:///{tmp / 'kw.db'}", tmp / "server.log")
        try:
            with httpx.Client(base_url=server.base, timeout=10) as client:
                yield server, client
        finally:
            server.stop()
        return
    with fresh_database() as url:
        server = Served(url, tmp / "server.log")
        try:
            with httpx.Client(base_url=server.base, timeout=10) as client:
                yield server, client
        finally:
            server.stop()


def segment(value: str) -> str:
    """``value`` percent-encoded as one path segment (dots too, so ``..`` is not resolved)."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="").replace(".", "%2E")
