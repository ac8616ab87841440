"""One duration syntax both ways: what keywell prints, its options accept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from keywell.errors import PolicyError
from keywell.lifecycle import RotationPolicy, format_duration, parse_duration
from keywell.lifecycle.durations import MAX_DURATION


@given(st.integers(min_value=1, max_value=MAX_DURATION))
def test_every_printed_duration_parses_back_to_the_same_seconds(seconds: int) -> None:
    text = format_duration(seconds)
    assert parse_duration(text) == seconds
    assert format_duration(timedelta(seconds=seconds)) == text


@given(st.lists(st.tuples(st.integers(0, 500), st.sampled_from("smhd")), min_size=1, max_size=4))
def test_every_accepted_duration_prints_in_canonical_form(parts: list[tuple[int, str]]) -> None:
    text = "".join(f"{n}{u}" for n, u in parts)
    try:
        seconds = parse_duration(text)
    except ValueError:
        return  # zero, or more than ten years
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(days=30), "30d"),
        (timedelta(days=40), "40d"),
        (5400, "1h30m"),
        (90061, "1d1h1m1s"),
        (0, "0s"),
        (59.6, "1m"),
        (None, "-"),
    ],
)
def test_format_duration(value: int | float | timedelta | None, text: str) -> None:
    assert format_duration(value) == text


def test_policy_errors_speak_the_options_syntax() -> None:
    with pytest.raises(PolicyError) as caught:
        RotationPolicy(rotation_period=timedelta(days=30), prepublish=timedelta(days=40))
    assert "prepublish (40d) exceeds rotation_period (30d)" in caught.value.message
    with pytest.raises(PolicyError) as caught:
        RotationPolicy(jwks_max_age=timedelta(hours=-1))
    assert "got -1h" in caught.value.message
    with pytest.raises(PolicyError) as caught:
        RotationPolicy(rotation_period=timedelta(days=1), jwks_max_age=timedelta(days=2))
    assert "jwks_max_age (2d) exceeds prepublish (1d)" in caught.value.message


def test_a_policy_describes_itself_in_the_options_syntax() -> None:
    assert RotationPolicy().describe() == (
        "rotation_period=30d prepublish=30d(rotation_period) max_token_ttl=1h "
        "jwks_max_age=1h clock_skew=1m"
    )
    custom = RotationPolicy(
        rotation_period=timedelta(days=14),
        prepublish=timedelta(days=2),
        max_token_ttl=timedelta(minutes=90),
        clock_skew=timedelta(0),
    )
    assert custom.describe() == (
        "rotation_period=14d prepublish=2d max_token_ttl=1h30m jwks_max_age=1h clock_skew=0s"
    )


@pytest.mark.parametrize("text", ["１d", "١٢s", "²", "1٠m", "๑h", "𝟙s", "３０", "1h３０m", "⁵s"])
def test_only_ascii_digits_are_durations(text: str) -> None:
    """``\\d`` and ``str.isdigit`` accept every script's digits; a duration is ASCII only."""
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@given(st.text(st.characters(codec="utf-8", exclude_characters="\r\n\t "), min_size=1, max_size=12))
def test_any_non_ascii_text_is_refused_with_a_value_error(text: str) -> None:
    assume(not text.strip().isascii())
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)
