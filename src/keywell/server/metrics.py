"""Prometheus metrics in the text exposition format (version 0.0.4), written by hand.

Counters are per process (Prometheus sums replicas); the key gauges are
computed at scrape time from the last snapshot of each set's keys, so they are
the same on every replica.

Where scrapers read them: ``/metrics`` on the main port answers only a bearer
token with the ``metrics`` scope (401/403 otherwise); with ``metrics_address``
set, :func:`start_metrics_listener` also serves them without a token on that
separate address (bind it to a private interface). That listener never names
an unpublished (HMAC) key set: only sets whose JWK Set is public appear there.
Nothing is served on the public port without a token.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["CONTENT_TYPE", "Metrics", "start_metrics_listener"]

log = logging.getLogger("keywell.server")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value: float) -> str:
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Metrics:
    """The server's counters and the rendering of ``/metrics``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.jwks_requests: Counter[int] = Counter()
        self.rotations: Counter[str] = Counter()
        self.revocations: Counter[str] = Counter()
        self.tokens_minted: Counter[str] = Counter()
        self.auth_failures: Counter[str] = Counter()

    def count_jwks(self, status: int) -> None:
        """Count one public-document request by status (hot path: a dict increment)."""
        self.jwks_requests[status] += 1

    def count(self, counter: Counter[str], label: str, n: int = 1) -> None:
        """Add ``n`` to ``counter[label]`` under the lock (called from worker threads)."""
        with self._lock:
            counter[label] += n

    def count_transitions(self, transitions: Iterable[Any]) -> None:
        """Count rotations (a key becoming active) and revocations among ``transitions``."""
        for t in transitions:
            new = str(getattr(t.new_state, "value", t.new_state))
            if new == "active":
                self.count(self.rotations, t.keyset)
            elif new == "revoked":
                self.count(self.revocations, t.keyset)

    def render(
        self,
        keys: Mapping[str, list[Any]],
        infos: Mapping[str, Any],
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        *,
        named: Callable[[str], bool] = lambda name: True,
    ) -> str:
        """The exposition text for the counters and the per-set key gauges.

        ``named(keyset)`` says whether a set may appear in a label; samples of
        the others are left out.
        """
        at = now()
        out: list[str] = []

        def family(name: str, kind: str, help_: str, samples: Iterable[tuple[str, float]]) -> None:
            out.append(f"# HELP {name} {help_}")
            out.append(f"# TYPE {name} {kind}")
            out.extend(f"{name}{labels} {_num(v)}" for labels, v in samples)

        def by_set(counter: Counter[str]) -> list[tuple[str, float]]:
            return [
                (f'{{keyset="{_label(k)}"}}', v) for k, v in sorted(counter.items()) if named(k)
            ]

        ages: list[tuple[str, float]] = []
        nexts: list[tuple[str, float]] = []
        for name in sorted(filter(named, keys)):
            active = [k for k in keys[name] if str(getattr(k.state, "value", k.state)) == "active"]
            info = infos.get(name)
            if not active or info is None or active[0].activated_at is None:
                continue
            activated = active[0].activated_at
            label = f'{{keyset="{_label(name)}"}}'
            ages.append((label, max(0.0, (at - activated).total_seconds())))
            due = activated + info.policy.rotation_period
            nexts.append((label, max(0.0, (due - at).total_seconds())))
        family("keywell_key_age_seconds", "gauge", "Age of the active key.", ages)
        family(
            "keywell_seconds_to_next_rotation",
            "gauge",
            "Seconds until the active key is due to be replaced.",
            nexts,
        )
        with self._lock:
            family(
                "keywell_rotations_total",
                "counter",
                "Keys made active by this process (tick, rotate, revoke).",
                by_set(self.rotations),
            )
            family(
                "keywell_revocations_total",
                "counter",
                "Keys revoked through this process.",
                by_set(self.revocations),
            )
            family(
                "keywell_tokens_minted_total",
                "counter",
                "Tokens signed through the admin API.",
                by_set(self.tokens_minted),
            )
            family(
                "keywell_admin_auth_failures_total",
                "counter",
                "Admin API requests refused: missing, invalid or under-scoped tokens.",
                [(f'{{reason="{_label(k)}"}}', v) for k, v in sorted(self.auth_failures.items())],
            )
        family(
            "keywell_jwks_requests_total",
            "counter",
            "Public JWKS and discovery requests by status.",
            [(f'{{status="{s}"}}', v) for s, v in sorted(dict(self.jwks_requests).items())],
        )
        return "\n".join(out) + "\n"


def start_metrics_listener(
    host: str, port: int, render: Callable[[], str]
) -> tuple[ThreadingHTTPServer, int]:
    """Serve ``GET /metrics`` (``render()``'s text) on ``host:port`` from a daemon thread.

    Returns the server (call ``shutdown()`` to stop it) and the bound port
    (``port`` 0 picks a free one). Any other path is a 404.

    Raises:
        OSError: the address cannot be bound (for instance, it is in use).
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self.send_error(404)
                return
            body = render().encode()
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return  # no access log, as on the main port

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    bound = int(server.server_address[1])
    threading.Thread(target=server.serve_forever, name="keywell-metrics", daemon=True).start()
    log.info("metrics listening", extra={"host": host, "port": bound})
    return server, bound
