"""Read-only JSON values, for what a parse cache hands out to every caller.

Internal to keywell. A parsed protected header is cached by its encoded form
(:func:`keywell.jose._compact.parse_header`) and given to every verification
of a token with that header, and to callers of ``jws.verify`` and
``check_proof``. :func:`freeze` makes it read-only all the way down (objects
become ``MappingProxyType``, arrays tuples), so no caller can change what the
next verification sees (e.g. empty a ``crit`` list it has handled).
:func:`thaw` gives back plain ``dict``/``list`` values for a parser that
checks JSON types (a DPoP proof's ``jwk``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = ["freeze", "freeze_members", "thaw"]


def freeze(value: Any) -> Any:
    """``value`` with every object and array replaced by a read-only one (recursively)."""
    kind = type(value)
    if kind is dict:
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if kind is list:
        return tuple(freeze(v) for v in value)
    return value  # str, int, float, bool, None: immutable


def freeze_members(obj: dict[str, Any]) -> Mapping[str, Any]:
    """A read-only view of a parsed JSON object, nested members frozen (a flat one costs a scan)."""
    for name, value in obj.items():
        if type(value) is dict or type(value) is list:
            obj[name] = freeze(value)
    return MappingProxyType(obj)


def thaw(value: Any) -> Any:
    """Plain ``dict``/``list`` values again, for code that checks JSON types."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if type(value) is tuple:
        return [thaw(v) for v in value]
    return value
