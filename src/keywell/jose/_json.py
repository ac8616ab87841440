"""Parsing JSON inside tokens: one object, no duplicate members, I-JSON strings.

Internal to keywell (``_``-prefixed): the JOSE parsers, the verifier and the
client share it; it is not public API. RFC 7515 section 5.2 step 3 allows
refusing duplicate member names; we do. RFC 7493 section 2.1 (I-JSON) refuses
lone surrogates.
"""

from __future__ import annotations

import json
import re
from typing import Any

from keywell.errors import MalformedTokenError

__all__ = ["loads_object"]


class _DuplicateMemberError(ValueError):
    pass


def _object_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateMemberError
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259 section 6)")


strict_decoder = json.JSONDecoder(object_pairs_hook=_object_hook, parse_constant=_no_constant)
fast_decoder = json.JSONDecoder(parse_constant=_no_constant)
_QUOTE_SPACE = re.compile(r'"[ \t\n\r]')


def loads_object(data: bytes, what: str) -> dict[str, Any]:
    """Parse UTF-8 JSON that must be an object without duplicate members.

    The fast path parses with the C decoder and then proves there were no
    duplicates without a Python hook: if the text holds one ``{`` and no
    quote followed by whitespace, every member name is immediately followed
    by ``":``, so the names in the text number at most ``count(b'":')``;
    when that equals the parsed object's size, no name was repeated. Any
    other text (nested objects, spaced JSON, escapes) takes the strict path,
    which checks every object with a hook.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedTokenError(f"{what} is not UTF-8") from None
    try:
        obj, end = fast_decoder.raw_decode(text)
    except (ValueError, RecursionError):
        obj, end = None, -1
    if (
        end == len(text)
        and type(obj) is dict
        and text.count("{") == 1
        and text.count('":') == len(obj)
        and not _QUOTE_SPACE.search(text)
    ):
        return _without_lone_surrogates(obj, text, what)
    try:
        obj = strict_decoder.decode(text)
    except _DuplicateMemberError:
        raise MalformedTokenError(f"{what} has duplicate members") from None
    except ValueError:
        raise MalformedTokenError(f"{what} is not valid JSON") from None
    except RecursionError:
        raise MalformedTokenError(f"{what} nests JSON too deeply") from None
    if type(obj) is not dict:
        raise MalformedTokenError(f"{what} is not a JSON object")
    return _without_lone_surrogates(obj, text, what)


def _without_lone_surrogates(obj: dict[str, Any], text: str, what: str) -> dict[str, Any]:
    r"""Refuse ``\uD800``-style lone surrogates (I-JSON, RFC 7493 section 2.1).

    Strict UTF-8 decoding already refused raw surrogates, so only a ``\u``
    escape can produce one: the check costs a substring search otherwise.
    """
    if "\\u" in text:
        try:
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedTokenError(f"{what} holds a lone surrogate (RFC 7493)") from None
        except RecursionError:
            raise MalformedTokenError(f"{what} nests JSON too deeply") from None
    return obj
