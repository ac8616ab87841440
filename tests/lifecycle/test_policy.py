"""RotationPolicy: defaults, and every inconsistent setting refused by name."""

from __future__ import annotations

from datetime import timedelta

import pytest

from keywell.errors import PolicyError
from keywell.lifecycle import RotationPolicy


def test_defaults_follow_the_design() -> None:
    policy = RotationPolicy()
    assert policy.rotation_period == timedelta(days=30)
    assert policy.prepublish is None
    assert policy.effective_prepublish == timedelta(days=30)
    assert policy.max_token_ttl == timedelta(hours=1)
    assert policy.jwks_max_age == timedelta(hours=1)
    assert policy.retention == timedelta(hours=1, seconds=60)


@pytest.mark.parametrize(
    "setting", ["rotation_period", "prepublish", "max_token_ttl", "jwks_max_age"]
)
@pytest.mark.parametrize("value", [timedelta(0), timedelta(seconds=-1)])
def test_non_positive_values_are_refused_by_name(setting: str, value: timedelta) -> None:
    with pytest.raises(PolicyError) as info:
        RotationPolicy(**{setting: value})
    assert info.value.setting == setting
    assert setting in str(info.value)
    assert info.value.code == "KW_POLICY_INVALID"


def test_negative_clock_skew_is_refused_zero_is_allowed() -> None:
    with pytest.raises(PolicyError) as info:
        RotationPolicy(clock_skew=timedelta(seconds=-1))
    assert info.value.setting == "clock_skew"
    assert RotationPolicy(clock_skew=timedelta(0)).clock_skew == timedelta(0)


def test_jwks_max_age_longer_than_prepublish_is_refused() -> None:
    with pytest.raises(PolicyError) as info:
        RotationPolicy(prepublish=timedelta(minutes=30), jwks_max_age=timedelta(hours=1))
    assert info.value.setting == "jwks_max_age"


def test_jwks_max_age_is_checked_against_the_default_prepublish() -> None:
    with pytest.raises(PolicyError) as info:
        RotationPolicy(rotation_period=timedelta(minutes=10))  # max-age 1 h > 10 min
    assert info.value.setting == "jwks_max_age"


def test_prepublish_longer_than_the_period_is_refused() -> None:
    with pytest.raises(PolicyError) as info:
        RotationPolicy(rotation_period=timedelta(days=1), prepublish=timedelta(days=2))
    assert info.value.setting == "prepublish"


def test_wrong_types_are_type_errors() -> None:
    with pytest.raises(TypeError):
        RotationPolicy(rotation_period=3600)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        RotationPolicy(clock_skew=60)  # type: ignore[arg-type]


def test_policy_is_frozen_and_keyword_only() -> None:
    policy = RotationPolicy()
    with pytest.raises(AttributeError):
        policy.rotation_period = timedelta(days=1)  # type: ignore[misc]
    with pytest.raises(TypeError):
        RotationPolicy(timedelta(days=1))  # type: ignore[misc]
