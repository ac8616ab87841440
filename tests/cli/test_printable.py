"""``keywell.cli.output.printable``/``escape``: the one place human output neutralises input."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from keywell.cli.output import escape, escape_json, printable


@given(st.text())
def test_printable_output_has_only_printable_characters_and_keeps_printable_input(
    text: str,
) -> None:
    shown = printable(text)
    assert shown.isprintable()
    if text.isprintable():
        assert shown == text
    assert escape(text).isprintable()


def test_each_kind_of_unprintable_character_is_shown_as_an_escape() -> None:
    table = {
        "\x00": "\\x00",
        "\n": "\\n",
        "\x1b": "\\x1b",
        "\x7f": "\\x7f",
        "\x85": "\\x85",
        "\u202e": "\\u202e",
        "\u2028": "\\u2028",
        "\u200b": "\\u200b",
        "\ud800": "\\ud800",
        "\U000e0001": "\\U000e0001",
    }
    for raw, shown in table.items():
        assert printable(f"a{raw}b") == f"a{shown}b"


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(_JSON)
def test_escape_json_breaks_lines_only_at_the_indentation_and_every_line_is_printable(
    data: object,
) -> None:
    dumped = json.dumps(data, indent=2, ensure_ascii=False)
    lines = escape_json(data).split("\n")
    assert len(lines) == len(dumped.split("\n"))
    assert all(line.isprintable() for line in lines)
    if dumped.replace("\n", "").isprintable() and "[" not in dumped:
        assert "\n".join(lines) == dumped


def test_escape_json_shows_each_kind_of_unprintable_value_character_as_an_escape() -> None:
    claims = {"sub": "alice", "note": "a\x1bb\u202ec\u2028d\x85e"}
    lines = escape_json(claims).split("\n")
    assert lines == [
        "{",
        '  "sub": "alice",',
        '  "note": "a\\u001bb\\u202ec\\u2028d\\x85e"',
        "}",
    ]
