"""Rendering of key sets for people: rich tables in a terminal, aligned plain text in a pipe.

Input is the wire form of :mod:`keywell.cli.keyset_backends` (times as RFC
3339 strings, durations in seconds); times are shown in UTC to the second.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from keywell.cli.output import console, escape
from keywell.lifecycle.durations import format_duration

__all__ = [
    "keyset_out",
    "render_keyset",
    "render_policy",
    "render_rotation",
    "render_sets",
    "render_transitions",
    "shown_out",
]

_TIME = re.compile(r"^\d{4}-\d\d-\d\dT")
_STATE_STYLES = {
    "active": "bold green",
    "pending": "cyan",
    "retired": "yellow",
    "expired": "dim",
    "revoked": "bold red",
}
_KEY_TIMES = (
    ("created", "created_at"),
    ("published", "published_at"),
    ("activated", "activated_at"),
    ("retired", "retired_at"),
    ("unpublished", "expires_at"),
    ("revoked", "revoked_at"),
)
_POLICY_LABELS = (
    ("rotation period", "rotation_period"),
    ("prepublish", "prepublish"),
    ("max token TTL", "max_token_ttl"),
    ("JWKS max-age", "jwks_max_age"),
    ("clock skew", "clock_skew"),
)


def keyset_out(info: dict[str, Any]) -> dict[str, Any]:
    """A key set as printed, text or ``--json`` alike: its policy says what applies.

    The wire form's ``"prepublish": null`` (follow the rotation period) becomes
    the effective seconds, with ``"prepublish_is_rotation_period": true``.
    """
    policy = dict(info["policy"])
    follows = policy["prepublish"] is None
    if follows:
        policy["prepublish"] = policy["rotation_period"]
    policy["prepublish_is_rotation_period"] = follows
    return {**info, "policy": policy}


def shown_out(shown: dict[str, Any]) -> dict[str, Any]:
    """A shown key set (``{"keyset", "keys"}``) as printed: see :func:`keyset_out`."""
    return {**shown, "keyset": keyset_out(shown["keyset"])}


def format_time(value: str | None) -> str:
    """An RFC 3339 time as ``2025-01-31T12:00:00Z``; ``-`` for None."""
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    styles: Sequence[str],
    *,
    narrow: Sequence[str] = (),
) -> None:
    """A rich table in a terminal; columns separated by two spaces in a pipe.

    Columns named in ``narrow`` are left out of the terminal table (it must
    fit 80 columns); names fold and times wrap between date and time.
    """
    out = console()
    if out.is_terminal:
        from rich.table import Table

        keep = [i for i, h in enumerate(headers) if h not in narrow]
        table = Table(show_edge=False, header_style="bold")
        for n, i in enumerate(keep):
            table.add_column(headers[i], overflow="fold", min_width=10 if n == 0 else None)
        for row, style in zip(rows, styles, strict=True):
            cells = [row[i] for i in keep]
            shown = (escape(c.replace("T", " ") if _TIME.match(c) else c) for c in cells)
            table.add_row(*shown, style=style or None)
        out.print(table)
        return
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        line = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        out.print(escape(line))


def render_sets(sets: list[dict[str, Any]]) -> None:
    """The key sets, one per row."""
    if not sets:
        console().print("no key sets: create one with `keywell keyset create`")
        return
    rows = [
        [
            s["name"],
            s["alg"],
            s["issuer"],
            str(s["version"]),
            format_duration(s["policy"]["rotation_period"]),
            format_time(s["created_at"]),
        ]
        for s in sets
    ]
    headers = ["name", "alg", "issuer", "version", "rotation", "created"]
    _table(headers, rows, [""] * len(rows))


def _policy_line(p: dict[str, Any]) -> str:
    return (
        f"rotate every {format_duration(p['rotation_period'])}, prepublish "
        f"{format_duration(p['prepublish'])}, tokens up to {format_duration(p['max_token_ttl'])}, "
        f"JWKS max-age {format_duration(p['jwks_max_age'])}, "
        f"clock skew {format_duration(p['clock_skew'])}"
    )


def render_keyset(shown: dict[str, Any]) -> None:
    """A key set's facts, then its keys with states and timestamps."""
    info, keys = shown["keyset"], shown["keys"]
    out = console()
    out.print(f"[bold]key set {escape(info['name'])}[/] ({escape(info['alg'])})")
    out.print(f"  issuer:  {escape(info['issuer'])}")
    if info.get("jwks_uri"):
        out.print(f"  JWKS:    {escape(info['jwks_uri'])}")
    out.print(f"  version: {info['version']}, created {format_time(info['created_at'])}")
    out.print(f"  policy:  {_policy_line(info['policy'])}")
    out.print(f"  custody: {escape(info.get('custody', 'db'))}")
    moved = [k for k in keys if k.get("custody", "db") != info.get("custody", "db")]
    for k in moved:  # keys made before a custody move stay in their backend
        out.print(f"  key {escape(k['kid'])} lives in custody {escape(k['custody'])}")
    out.print()
    rows = [
        [k["kid"], k["state"], *(format_time(k[field]) for _, field in _KEY_TIMES)] for k in keys
    ]
    styles = [_STATE_STYLES.get(k["state"], "") for k in keys]
    headers = ["kid", "state", *(label for label, _ in _KEY_TIMES)]
    _table(headers, rows, styles, narrow=("created", "revoked"))
    for k in keys:
        if k.get("revoked_at"):
            when = format_time(k["revoked_at"])
            out.print(f"revoked {escape(k['kid'])} at {when}: {escape(k['revoke_reason'] or '')}")


def render_transitions(transitions: list[dict[str, Any]]) -> None:
    """State changes that happened, one per line."""
    out = console()
    if not transitions:
        out.print("no key changed state")
    for t in transitions:
        old = t["old_state"] or "(new)"
        out.print(
            f"{escape(t['kid'])}: {old} -> [bold]{t['new_state']}[/]"
            f"  {format_time(t['at'])}  {escape(t['reason'])}"
        )


def render_rotation(result: dict[str, Any]) -> None:
    """What a rotation did, or when a planned one becomes possible."""
    out = console()
    if result["performed"]:
        out.print(f"[green]rotated[/]: key [bold]{escape(result['active_kid'])}[/] signs now")
        render_transitions(result["transitions"])
        return
    when = format_time(result.get("next_possible_at"))
    out.print(
        f"[yellow]not rotated[/]: the pending key is not published long enough yet; "
        f"possible at {when} (or use --emergency). Active key: {escape(result['active_kid'])}"
    )


def render_policy(info: dict[str, Any], *, updated: bool) -> None:
    """A key set's policy, one setting per line."""
    out = console()
    verb = "updated policy of" if updated else "policy of"
    out.print(f"[bold]{verb} {escape(info['name'])}[/]")
    policy = info["policy"]
    for label, field in _POLICY_LABELS:
        value = policy[field]
        shown = format_duration(value)
        if field == "prepublish" and policy["prepublish_is_rotation_period"]:
            shown += " (the rotation period)"
        out.print(f"  {label + ':':<17}{shown}")
