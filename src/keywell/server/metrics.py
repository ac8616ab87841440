"""Prometheus metrics in the text exposition format (version 0.0.4), written by hand.

Counters are per process (Prometheus sums replicas); the key gauges are
computed at scrape time from the last snapshot of each set's keys, so they are
the same on every replica.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = ["CONTENT_TYPE", "Metrics"]

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
    ) -> str:
        """The exposition text for the counters and the per-set key gauges."""
        at = now()
        out: list[str] = []

        def family(name: str, kind: str, help_: str, samples: Iterable[tuple[str, float]]) -> None:
            out.append(f"# HELP {name} {help_}")
            out.append(f"# TYPE {name} {kind}")
            out.extend(f"{name}{labels} {_num(v)}" for labels, v in samples)

        ages: list[tuple[str, float]] = []
        nexts: list[tuple[str, float]] = []
        for name in sorted(keys):
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
                [(f'{{keyset="{_label(k)}"}}', v) for k, v in sorted(self.rotations.items())],
            )
            family(
                "keywell_revocations_total",
                "counter",
                "Keys revoked through this process.",
                [(f'{{keyset="{_label(k)}"}}', v) for k, v in sorted(self.revocations.items())],
            )
            family(
                "keywell_tokens_minted_total",
                "counter",
                "Tokens signed through the admin API.",
                [(f'{{keyset="{_label(k)}"}}', v) for k, v in sorted(self.tokens_minted.items())],
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
