"""The rotation policy of a key set (DESIGN.md, "Key lifecycle").

A policy is checked once, at construction: every duration must be positive
(``clock_skew`` may be zero), ``prepublish`` may not exceed
``rotation_period`` (the successor is created when its predecessor starts
signing, so it can never have been published longer than one period), and
``jwks_max_age`` may not exceed ``prepublish`` (a verifier caching the set for
``jwks_max_age`` must see every key before it signs).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from keywell.errors import PolicyError
from keywell.lifecycle.durations import format_duration

__all__ = ["RotationPolicy"]

_ZERO = timedelta(0)


def _show(value: timedelta) -> str:
    """A duration in the options' syntax (``30d``); a negative one as ``-30d``."""
    if value < _ZERO:
        return "-" + format_duration(-value)
    return format_duration(value)


@dataclass(frozen=True, kw_only=True)
class RotationPolicy:
    """How a key set rotates, how long tokens live and how long caches keep the set.

    Args:
        rotation_period: how long a key is the active signer (default 30 days).
        prepublish: how long a key is published before it signs; ``None`` means
            equal to ``rotation_period``.
        max_token_ttl: the longest lifetime of a token the set signs.
        jwks_max_age: Cache-Control max-age of the published set (<= prepublish).
        clock_skew: verifier clock skew kept after a key retires.

    Raises:
        PolicyError: a setting is non-positive or inconsistent; ``setting`` names it.
        TypeError: a setting is not a ``timedelta``.
    """

    rotation_period: timedelta = timedelta(days=30)
    prepublish: timedelta | None = None
    max_token_ttl: timedelta = timedelta(hours=1)
    jwks_max_age: timedelta = timedelta(hours=1)
    clock_skew: timedelta = timedelta(seconds=60)

    def __post_init__(self) -> None:
        for name in ("rotation_period", "prepublish", "max_token_ttl", "jwks_max_age"):
            value = getattr(self, name)
            if value is None and name == "prepublish":
                continue
            if not isinstance(value, timedelta):
                raise TypeError(f"{name} must be a timedelta")
            if value <= _ZERO:
                raise PolicyError(f"{name} must be positive, got {_show(value)}", setting=name)
        if not isinstance(self.clock_skew, timedelta):
            raise TypeError("clock_skew must be a timedelta")
        if self.clock_skew < _ZERO:
            raise PolicyError("clock_skew must not be negative", setting="clock_skew")
        if self.prepublish is not None and self.prepublish > self.rotation_period:
            raise PolicyError(
                f"prepublish ({_show(self.prepublish)}) exceeds rotation_period "
                f"({_show(self.rotation_period)}): the successor key cannot be published that long",
                setting="prepublish",
            )
        if self.jwks_max_age > self.effective_prepublish:
            raise PolicyError(
                f"jwks_max_age ({_show(self.jwks_max_age)}) exceeds prepublish "
                f"({_show(self.effective_prepublish)}): caches could miss a key before it signs",
                setting="jwks_max_age",
            )

    def describe(self) -> str:
        """The settings in the options' duration syntax, for people and audit logs.

        ``rotation_period=30d prepublish=30d(rotation_period) max_token_ttl=1h
        jwks_max_age=1h clock_skew=1m``.
        """
        pre = _show(self.effective_prepublish)
        if self.prepublish is None:
            pre += "(rotation_period)"
        return (
            f"rotation_period={_show(self.rotation_period)} prepublish={pre} "
            f"max_token_ttl={_show(self.max_token_ttl)} "
            f"jwks_max_age={_show(self.jwks_max_age)} clock_skew={_show(self.clock_skew)}"
        )

    @property
    def effective_prepublish(self) -> timedelta:
        """``prepublish``, or ``rotation_period`` when it was left unset."""
        return self.rotation_period if self.prepublish is None else self.prepublish

    @property
    def retention(self) -> timedelta:
        """How long a retired key stays published: ``max_token_ttl + clock_skew``."""
        return self.max_token_ttl + self.clock_skew
