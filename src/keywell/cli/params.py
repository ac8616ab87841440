"""Parsing of command-line values: durations (``15m``) and claims (``k=v``).

Durations are :mod:`keywell.lifecycle.durations`, the one syntax keywell reads and prints.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

__all__ = ["format_duration", "parse_claim", "parse_duration"]


def parse_duration(text: str) -> int:
    """Seconds in ``text`` (``30s``, ``15m``, ``1h30m``): :func:`keywell.lifecycle.parse_duration`.

    Imported on first use so ``keywell --help`` does not load the lifecycle package.
    Raises ValueError as that function does.
    """
    from keywell.lifecycle.durations import parse_duration as parse

    return parse(text)


def format_duration(value: int | float | timedelta | None) -> str:
    """``30d``, ``1h30m``: :func:`keywell.lifecycle.format_duration` (imported on first use)."""
    from keywell.lifecycle.durations import format_duration as fmt

    return fmt(value)


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
