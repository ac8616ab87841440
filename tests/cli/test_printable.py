"""``keywell.cli.output.printable``/``escape``: the one place human output neutralises input."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from keywell.cli.output import escape, printable


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
