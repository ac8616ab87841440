"""Durations as people write them: ``30s``, ``15m``, ``2h``, ``30d``, ``1h30m``.

One syntax both ways: :func:`parse_duration` reads what the command-line
options accept, :func:`format_duration` writes the same syntax, so every
duration keywell prints (policies, warnings, errors, ``--json`` aside, which
keeps whole seconds) can be pasted back into an option.
``parse_duration(format_duration(s)) == s`` for every positive whole number
of seconds up to ten years.
"""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["MAX_DURATION", "format_duration", "parse_duration"]

_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_SIZE = dict(_UNITS)
_PART = re.compile(r"([0-9]+)([smhd])")  # ASCII digits: \d and isdigit take any script's
#: The longest duration accepted, in seconds (ten years).
MAX_DURATION = 10 * 365 * 86400


def parse_duration(text: str) -> int:
    """Seconds in a duration such as ``30s``, ``15m``, ``2h``, ``1d`` or ``1h30m``.

    A bare number is seconds; units may repeat in any order (``1h1h`` is
    ``2h``). Raises ValueError for anything else, for zero, and for more
    than ten years.
    """
    value = text.strip().lower()
    if not value.isascii():
        raise ValueError(f"{text!r} is not a duration like 30s, 15m, 2h or 1d")
    if value.isdigit():
        seconds = int(value)
    else:
        parts = _PART.findall(value)
        if not parts or "".join(n + u for n, u in parts) != value:
            raise ValueError(f"{text!r} is not a duration like 30s, 15m, 2h or 1d")
        seconds = sum(int(n) * _SIZE[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError("a duration must be longer than zero")
    if seconds > MAX_DURATION:
        raise ValueError("a duration must be at most ten years")
    return seconds


def format_duration(value: int | float | timedelta | None) -> str:
    """``2592000`` (or ``timedelta(days=30)``) as ``30d``, ``5400`` as ``1h30m``.

    Whole seconds (fractions are rounded); ``0s`` for zero, ``-`` for None.
    Raises ValueError for a negative duration.
    """
    if value is None:
        return "-"
    seconds = round(value.total_seconds() if isinstance(value, timedelta) else value)
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in _UNITS:
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)
