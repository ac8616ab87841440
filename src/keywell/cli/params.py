"""Parsing of command-line values: durations (``15m``) and claims (``k=v``, each name once).

Durations are :mod:`keywell.lifecycle.durations`, the one syntax keywell reads and prints.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

__all__ = ["format_duration", "parse_claim", "parse_claims", "parse_duration"]


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


def parse_claims(texts: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """The claims of repeated ``--claim name=value`` options, each name given once.

    A name given twice is an error, whatever the values: ``--claim aud=a
    --claim aud=b`` would otherwise keep only one audience silently. Several
    audiences are one JSON array: ``--claim 'aud=["a","b"]'`` (RFC 7519
    section 4.1.3).

    Raises:
        ValueError: a text that is not ``name=value``, or a repeated name.
    """
    claims: dict[str, Any] = {}
    for text in texts:
        name, value = parse_claim(text)
        if name in claims:
            raise ValueError(
                f"claim {name!r} is given twice; give it once "
                f'(several values are one JSON array: {name}=\'["a","b"]\')'
            )
        claims[name] = value
    return claims
