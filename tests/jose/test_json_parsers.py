"""The fast and the strict JSON parsers of ``loads_object`` agree on every object.

``loads_object`` first parses with the C decoder and accepts the result only
when a cheap count proves the text had no duplicate member; otherwise the
strict decoder (a hook on every object) decides. Generated objects, some with
repeated names, nesting, spacing and escapes, must get the same answer from
``loads_object`` as from the strict decoder alone.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keywell.errors import MalformedTokenError
from keywell.jose import _json
from keywell.jose._json import loads_object

_names = st.sampled_from(["a", "b", "kid", "alg", 'q"', "s p", "\u00e9", "x:y", "{", ""])
_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(st.tuples(_names, inner), max_size=3).map(lambda p: _Pairs(p))
    ),
    max_leaves=8,
)
_separators = st.sampled_from([(",", ":"), (", ", ": "), (",", ": "), (" ,", " :"), (",\n", ":\t")])


class _Pairs(list[tuple[str, Any]]):
    """An object as written: its members in order, a name possibly repeated."""


def _write(value: Any, sep: tuple[str, str], ascii_only: bool) -> str:
    if isinstance(value, _Pairs):
        members = (
            json.dumps(k, ensure_ascii=ascii_only) + sep[1] + _write(v, sep, ascii_only)
            for k, v in value
        )
        return "{" + sep[0].join(members) + "}"
    if isinstance(value, list):
        return "[" + sep[0].join(_write(v, sep, ascii_only) for v in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


def _strict(text: str) -> dict[str, Any] | None:
    """The reference: the strict decoder alone (``None`` where loads_object must refuse)."""
    try:
        obj = _json.strict_decoder.decode(text)
    except ValueError:  # duplicate members are a ValueError too
        return None
    return obj if type(obj) is dict else None


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.tuples(_names, _values), max_size=6).map(lambda p: _Pairs(p)),
    _separators,
    st.booleans(),
)
def test_fast_and_strict_parsers_agree(obj: _Pairs, sep: tuple[str, str], ascii_only: bool) -> None:
    text = _write(obj, sep, ascii_only)
    expected = _strict(text)
    try:
        got = loads_object(text.encode("utf-8"), "payload")
    except MalformedTokenError:
        assert expected is None, text
    else:
        assert got == expected, text


@given(st.dictionaries(st.text(max_size=6), _scalars, max_size=6))
def test_compact_objects_without_duplicates_parse_to_themselves(obj: dict[str, Any]) -> None:
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    assert loads_object(text.encode("utf-8"), "payload") == obj


@given(_names, _scalars, _scalars)
def test_a_repeated_name_is_always_refused(name: str, first: Any, second: Any) -> None:
    key = json.dumps(name)
    text = "{" + f"{key}:{json.dumps(first)},{key}:{json.dumps(second)}" + "}"
    with pytest.raises(MalformedTokenError, match="duplicate"):
        loads_object(text.encode(), "header")
