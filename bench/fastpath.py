"""In-process cost of ``GET /.well-known/jwks.json`` through keywell's app vs a bare ASGI app.

No server, no sockets: the ASGI callables are awaited directly, best of 15
runs of 20,000 requests each, so the figure is the app's own cost (the fast
path in front of everything: admin API, console, metrics) and moves little
with the machine's load, unlike wrk's ratios in ``bench/server.py``.

Usage: .venv/bin/python bench/fastpath.py
Compare with an older tree: PYTHONPATH=/path/to/old/src .venv/bin/python bench/fastpath.py
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from keywell.issuer import Issuer
from keywell.server import ServerConfig, create_app
from keywell.store.kek import KEKRing

RUNS, REQUESTS = 15, 20_000
SCOPE = {
    "type": "http",
    "method": "GET",
    "path": "/.well-known/jwks.json",
    "headers": [(b"host", b"bench")],
    "query_string": b"",
}


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: Any) -> None:
    return None


async def measure(directory: Path) -> dict[str, float]:
    issuer = Issuer(
        f"sqlite:///{directory / 'bench.db'}", keks=KEKRing.generate(), auto_upgrade=True
    )
    issuer.create_keyset("default", issuer="https://bench.test")
    server = create_app(issuer, ServerConfig(public_url="http://127.0.0.1"), close_issuer=True)
    async with server.running():
        doc = server.state.registry.entries["default"].jwks

        async def bare(scope: Any, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": doc.ok_headers})
            await send({"type": "http.response.body", "body": doc.body})

        best = {"keywell": float("inf"), "bare": float("inf")}
        for _ in range(RUNS):
            for name, app in (("keywell", server), ("bare", bare)):
                started = time.perf_counter()
                for _ in range(REQUESTS):
                    await app(SCOPE, _receive, _send)
                per = (time.perf_counter() - started) / REQUESTS * 1e6
                best[name] = min(best[name], per)
    return best


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        best = asyncio.run(measure(Path(tmp)))
    print(
        f"keywell {best['keywell']:.2f} µs, bare ASGI {best['bare']:.2f} µs per request: "
        f"the app adds {best['keywell'] - best['bare']:.2f} µs"
    )


if __name__ == "__main__":
    main()
