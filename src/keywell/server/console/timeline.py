"""The key timeline of one set as SVG, drawn from the store's key records (no I/O).

One row per key, left to right in time: published and waiting (``pending``,
with the set's prepublish window shaded), signing (``active``), kept for
verifiers (``retired``) until the moment it leaves the JWK Set
(``expires_at``: ``max_token_ttl + clock_skew`` after retirement, see
:attr:`~keywell.lifecycle.RotationPolicy.retention`), or cut short
(``revoked``). What has not happened yet is drawn dashed from the policy: the
next due rotation (:func:`~keywell.lifecycle.rotation_due_at`), when the
pending key takes over, and when the active key will leave the set. A
vertical line marks now. The same picture as ``sim/results/timeline.png``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from keywell.lifecycle import KeyInfo, KeySetInfo, KeyState, rotation_due_at
from keywell.server.console.markup import Markup, join, render

__all__ = ["draw_timeline"]

_W, _LEFT, _RIGHT, _ROW, _TOP = 960, 190, 20, 30, 34
_SHOWN = 8  # rows at most: the newest keys


@dataclass(frozen=True, slots=True)
class _Bar:
    start: datetime
    end: datetime
    kind: str  # a CSS class: pending, active, retired, revoked, expired, projected
    label: str


def _bars(
    key: KeyInfo, due: datetime | None, policy_retention: timedelta, now: datetime
) -> list[_Bar]:
    """The segments of one key's life: recorded ones solid, projected ones dashed."""
    bars: list[_Bar] = []
    start = key.published_at or key.created_at
    stop = key.revoked_at
    if key.activated_at is not None:
        bars.append(_Bar(start, key.activated_at, "pending", "published, waiting"))
        end = key.retired_at or stop
        if end is None:  # still active: signs until the next rotation
            bars.append(_Bar(key.activated_at, now, "active", "signing"))
            if due is not None:
                bars.append(_Bar(now, max(now, due), "projected active", "signs until rotation"))
                bars.append(
                    _Bar(
                        max(now, due),
                        max(now, due) + policy_retention,
                        "projected retired",
                        "kept for verifiers",
                    )
                )
        else:
            bars.append(_Bar(key.activated_at, end, "active", "signed"))
            if key.retired_at is not None:
                leave = stop or key.expires_at or now
                bars.append(_Bar(key.retired_at, max(leave, key.retired_at), "retired", "kept"))
    elif key.state is KeyState.PENDING:
        bars.append(_Bar(start, now, "pending", "published, waiting"))
        if due is not None:
            bars.append(
                _Bar(now, max(now, due), "projected pending", "takes over at the next rotation")
            )
    elif stop is not None:
        bars.append(_Bar(start, stop, "pending", "published, never signed"))
    return bars


def _x(at: datetime, lo: datetime, hi: datetime) -> float:
    span = (hi - lo).total_seconds() or 1.0
    frac = min(1.0, max(0.0, (at - lo).total_seconds() / span))
    return round(_LEFT + frac * (_W - _LEFT - _RIGHT), 1)


def _anchor(x: float) -> str:
    """Labels right of the middle end at their mark, so none runs past the edge."""
    return "end" if x > _W / 2 else "start"


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def draw_timeline(info: KeySetInfo, keys: Sequence[KeyInfo], now: datetime) -> Markup:
    """The set's timeline as an inline ``<svg>`` element (every text escaped).

    Args:
        info: the key set (its policy gives the projections).
        keys: its keys, as :meth:`keywell.Issuer.keys` returns them.
        now: the current time (aware UTC).
    """
    policy = info.policy
    due = rotation_due_at(policy, keys)
    horizon = max(now, due or now) + policy.retention
    hi = horizon + (horizon - now) * 0.05 + timedelta(seconds=1)
    lo = now - max((hi - now) * 0.8, timedelta(seconds=10))
    shown = [k for k in keys if (k.revoked_at or k.expires_at or hi) >= lo][-_SHOWN:]
    height = _TOP + _ROW * max(1, len(shown)) + 30
    rows: list[Markup] = []
    for i, key in enumerate(shown):
        y = _TOP + i * _ROW
        parts: list[Markup] = [
            render(
                '<text class="kid" x="6" y="{y}">{kid}</text>'
                '<text class="state {state}" x="{sx}" y="{y}">{state}</text>',
                y=y + 18,
                kid=key.kid[:16] + ("…" if len(key.kid) > 16 else ""),
                state=key.state.value,
                sx=_LEFT - 60,
            )
        ]
        if key.state is KeyState.PENDING and key.published_at is not None:
            window_end = key.published_at + policy.effective_prepublish
            parts.append(
                render(
                    '<rect class="prepublish" x="{x}" y="{y}" width="{w}" height="{h}">'
                    "<title>prepublish window: published {a}; may sign from {b}</title></rect>",
                    x=_x(key.published_at, lo, hi),
                    y=y + 2,
                    w=round(max(1.0, _x(window_end, lo, hi) - _x(key.published_at, lo, hi)), 1),
                    h=_ROW - 4,
                    a=_when(key.published_at),
                    b=_when(window_end),
                )
            )
        for bar in _bars(key, due, policy.retention, now):
            x0, x1 = _x(bar.start, lo, hi), _x(bar.end, lo, hi)
            parts.append(
                render(
                    '<rect class="bar {kind}" x="{x}" y="{y}" width="{w}" height="14">'
                    "<title>{label}: {a} → {b}</title></rect>",
                    kind=bar.kind,
                    x=x0,
                    y=y + 8,
                    w=round(max(1.0, x1 - x0), 1),
                    label=bar.label,
                    a=_when(bar.start),
                    b=_when(bar.end),
                )
            )
        leaves = key.revoked_at or key.expires_at
        if leaves is not None:
            parts.append(
                render(
                    '<line class="leaves" x1="{x}" x2="{x}" y1="{y0}" y2="{y1}">'
                    "<title>leaves the JWKS: {a}</title></line>",
                    x=_x(leaves, lo, hi),
                    y0=y + 4,
                    y1=y + 26,
                    a=_when(leaves),
                )
            )
        rows.append(
            render(
                '<g class="key" data-kid="{kid}" data-state="{state}">{parts}</g>',
                kid=key.kid,
                state=key.state.value,
                parts=join(parts),
            )
        )
    marks: list[Markup] = []
    bottom = height - 24
    for at, cls, label in ((now, "now", "now"), (due, "due", "next rotation")):
        if at is None:
            continue
        marks.append(
            render(
                '<line class="mark {cls}" x1="{x}" x2="{x}" y1="20" y2="{b}"/>'
                '<text class="mark {cls}" x="{x}" y="14" text-anchor="{anchor}">{label}</text>',
                cls=cls,
                x=_x(at, lo, hi),
                anchor=_anchor(_x(at, lo, hi)),
                b=bottom,
                label=label if cls == "now" else f"{label} {_when(at)}",
            )
        )
    ticks = join(
        render(
            '<text class="tick" x="{x}" y="{y}" text-anchor="{anchor}">{t}</text>',
            x=_x(lo + (hi - lo) * (i / 4), lo, hi),
            anchor=("start", "middle", "middle", "middle", "end")[i],
            y=height - 6,
            t=(lo + (hi - lo) * (i / 4)).strftime("%m-%d %H:%M"),
        )
        for i in range(5)
    )
    return render(
        '<svg class="timeline" id="timeline" role="img" viewBox="0 0 {w} {h}" '
        'width="{w}" height="{h}" data-due="{due}" xmlns="http://www.w3.org/2000/svg">'
        "<title>key timeline of {name}</title>{rows}{marks}{ticks}</svg>",
        w=_W,
        h=height,
        due=due.isoformat() if due else "",
        name=info.name,
        rows=join(rows),
        marks=join(marks),
        ticks=ticks,
    )
