"""Facts about a key set the console shows: custody, health, times relative to now.

Pure functions of the set, its keys and ``now``; the rotation times come from
:func:`keywell.lifecycle.rotation_due_at`, the one rule for when a rotation is due.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from keywell.lifecycle import KeyInfo, KeySetInfo, KeyState, format_duration, rotation_due_at
from keywell.lifecycle.rules import is_publishable

__all__ = ["by_state", "custody_of", "health", "relative", "stamp"]

_SKEW = timedelta(seconds=60)


def custody_of(info: KeySetInfo) -> str:
    """Where the set's private keys live: its custody URI (``db``: sealed in the store)."""
    return info.custody


def relative(at: datetime | None, now: datetime) -> str:
    """``in 3d4h`` or ``5m ago`` (whole seconds), ``-`` for ``None``."""
    if at is None:
        return "-"
    seconds = round((at - now).total_seconds())
    if seconds == 0:
        return "now"
    text = format_duration(abs(seconds))
    return f"in {text}" if seconds > 0 else f"{text} ago"


def stamp(at: datetime | None) -> str:
    """``2026-06-01 12:00:00 UTC``, ``-`` for ``None``."""
    return "-" if at is None else at.strftime("%Y-%m-%d %H:%M:%S UTC")


def by_state(keys: Sequence[KeyInfo], state: KeyState) -> list[KeyInfo]:
    """The keys in ``state``, in the order given."""
    return [k for k in keys if k.state is state]


def health(info: KeySetInfo, keys: Sequence[KeyInfo], now: datetime) -> tuple[str, str]:
    """``(level, text)``: ``ok``, ``warn`` or ``error`` and why, from the keys' states."""
    if not by_state(keys, KeyState.ACTIVE):
        return "error", "no active key: nothing can sign"
    if not by_state(keys, KeyState.PENDING):
        return "warn", "no pending successor published"
    due = rotation_due_at(info.policy, keys)
    if due is not None and due + _SKEW < now:
        return "warn", f"rotation overdue by {format_duration(round((now - due).total_seconds()))}"
    if not is_publishable(info.alg):
        return "ok", "private set (HMAC): not published"
    return "ok", "healthy"
