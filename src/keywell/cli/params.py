"""Parsing of command-line values: durations (``15m``) and claims (``k=v``)."""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["parse_claim", "parse_duration"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+)([smhd])")
_MAX_SECONDS = 10 * 365 * 86400


def parse_duration(text: str) -> int:
    """Seconds in a duration such as ``30s``, ``15m``, ``2h``, ``1d`` or ``1h30m``.

    A bare number is seconds. Raises ValueError for anything else, for zero,
    and for more than ten years.
    """
    value = text.strip().lower()
    if value.isdigit():
        seconds = int(value)
    else:
        parts = _PART.findall(value)
        if not parts or "".join(n + u for n, u in parts) != value:
            raise ValueError(f"{text!r} is not a duration like 30s, 15m, 2h or 1d")
        seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError("a duration must be longer than zero")
    if seconds > _MAX_SECONDS:
        raise ValueError("a duration must be at most ten years")
    return seconds


def parse_claim(text: str) -> tuple[str, Any]:
    """Split ``name=value``; the value is JSON when it parses as JSON, else a string.

    ``n=3`` gives ``3``, ``admin=true`` gives ``True``, ``aud=["a","b"]`` a list,
    ``sub=alice`` the string ``"alice"``; quote to force a string: ``n='"3"'``.
    """
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ValueError(f"{text[:40]!r} is not name=value")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return name, value
