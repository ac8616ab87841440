"""The run's outputs: the markdown summary and the PNG timeline (matplotlib, Agg)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from sim.analysis import Key


def markdown(summary: dict[str, Any]) -> str:
    s = summary
    v = s["verification"]
    lat = v["latency"]
    rot = s["rotations"]
    act = s["active_keys"]
    verdict = "PASS" if s["pass"] else "FAIL"
    lines = [
        f"### Rotation simulation: {verdict} (issue 7 definitions, strict)",
        "",
        f"`{s['command']}` — {s['duration_s']:.0f} s of load, policy rotation "
        f"{s['policy']['rotation_period']:g} s, prepublish {s['policy']['prepublish']:g} s, "
        f"max_token_ttl {s['policy']['max_token_ttl']:g} s, jwks_max_age "
        f"{s['policy']['jwks_max_age']:g} s, clock_skew {s['policy']['clock_skew']:g} s; "
        f"3 replicas (tick {s['server']['tick_interval']:g} s, poll "
        f"{s['server']['poll_interval']:g} s) on one PostgreSQL database behind HAProxy.",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| tokens minted (2 minters, admin API via HAProxy) | {s['tokens_minted']:,} |",
        f"| mint requests failed | {s['mint_failures']:,} |",
        f"| verifications (2 sync + 2 asyncio verifiers) | {v['verifications']:,} |",
        f"| accepted / refused | {v['accepted']:,} / {v['refused']:,} |",
        f"| **false rejections** | **{v['false_rejections']}** |",
        f"| **late acceptances** (strict: after the revoke call returned + max_age + one "
        f"fetch) | **{v['late_acceptances']}** |",
        f"| … of which a replica served the revoked key after the call returned / the "
        f"client kept a document too long | {v['late_acceptances_server']} / "
        f"{v['late_acceptances_client']} |",
        f"| accepted after the database's `revoked_at` + max_age + one fetch (informative) | "
        f"{v['accepted_after_db_revoked_at']} |",
        f"| accepted after exp | {v['expired_acceptances']} |",
        f"| **max simultaneously active keys** (table / admin API / audit timestamps) | "
        f"**{act['max']}** ({act['table_max']} / {act['api_max']} / {act['timeline_max']}) |",
        f"| min active keys (table / audit timestamps) | {act['table_min']} / "
        f"{act['timeline_min']} |",
        f"| rotations performed / due | {rot['performed']} / {rot['due']} "
        f"(delay p50 {rot['p50_delay_s']} s, max {rot['max_delay_s']} s) |",
        f"| verification latency p50 / p99 | {lat['all']['p50_ms']} ms / "
        f"{lat['all']['p99_ms']} ms |",
        f"| … sync p50 / p99; asyncio p50 / p99 | {lat['sync']['p50_ms']} / "
        f"{lat['sync']['p99_ms']} ms; {lat['async']['p50_ms']} / {lat['async']['p99_ms']} ms |",
        f"| JWKS fetches (200 / 304 / failed) | {s['fetches']['200']} / {s['fetches']['304']} "
        f"/ {s['fetches']['failed']} |",
        f"| tokens signed by a key after its revocation (other replicas' signer cache) | "
        f"{s['signed_after_revocation']} |",
        _custody_row(s.get("custody") or {"custody": "db"}),
        "",
        "Refusals by cause: " + ", ".join(f"{k}: {n:,}" for k, n in sorted(v["refusals"].items())),
        "",
        "Revocation call: "
        + "; ".join(
            f"via {c.get('replica')}, {c['end'] - c['start']:.3f} s, HTTP {c['status']}, "
            f"returned {c['end'] - c.get('committed', c['end']):.3f} s after its commit"
            for c in s["revocation_calls"]
        ),
        "",
        "Faults: " + "; ".join(f"{e['t']:.1f} s {e['kind']} {e['detail']}" for e in s["faults"]),
        "",
        "Revocation propagation (s from `revoked_at` until each replica's JWKS, polled every "
        "100 ms, no longer listed the key): "
        + "; ".join(
            f"{kid[:10]}…: " + ", ".join(f"{r} {t}" for r, t in per.items())
            for kid, per in s["revocation_propagation"].items()
        ),
    ]
    return "\n".join(lines) + "\n"


def _custody_row(c: dict[str, Any]) -> str:
    if c["custody"] == "db":
        return "| key custody | db (sealed in PostgreSQL) |"
    return (
        f"| key custody {c['custody']}: keys in the backend / named by the store "
        f"(**missing** / unnamed) | {c['backend_keys']} / {c['store_refs']} "
        f"(**{len(c['missing'])}** / {len(c['unnamed'])}) |"
    )


_COLORS = {"pending": "#9ecae1", "active": "#31a354", "retired": "#fdae6b", "revoked": "#de2d26"}


def timeline(
    path: Path,
    keys: list[Key],
    points: list[tuple[float, str, str]],
    faults: list[dict[str, Any]],
    start: float,
    end: float,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    keys = sorted(keys, key=lambda k: k.created_at)
    row = {k.kid: i for i, k in enumerate(keys)}
    fig, ax = plt.subplots(figsize=(14, max(5.0, 0.22 * len(keys) + 3)), dpi=110)
    for k in keys:
        y = row[k.kid]
        stop = min(t for t in (k.expires_at, k.revoked_at, end) if t is not None)
        spans = [
            ("pending", k.published_at, k.activated_at or k.revoked_at or end),
            ("active", k.activated_at, k.retired_at or k.revoked_at or end),
            ("retired", k.retired_at, stop),
        ]
        for state, a, b in spans:
            if a is not None and b is not None and b > a:
                ax.barh(y, b - a, left=a - start, height=0.6, color=_COLORS[state])
        if k.revoked_at is not None:
            ax.plot([k.revoked_at - start], [y], marker="X", color=_COLORS["revoked"], ms=10)
    rng = random.Random(0)
    shown = {"accepted": 0.02, "refused": 0.2, "false": 1.0, "late": 1.0}
    style = {
        "accepted": dict(marker=".", color="black", s=2, alpha=0.35),
        "refused": dict(marker="x", color="grey", s=8, alpha=0.6),
        "false": dict(marker="o", color="red", s=60),
        "late": dict(marker="D", color="magenta", s=60),
    }
    for cls, frac in shown.items():
        pts = [
            (t - start, row[kid] + rng.uniform(-0.25, 0.25))
            for t, kid, c in points
            if c == cls and kid in row and rng.random() < frac
        ]
        if pts:
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], **style[cls])
    for f in faults:
        ax.axvline(f["t"], color="purple", lw=0.8, ls="--")
        ax.text(
            f["t"],
            1.01,
            f["kind"],
            rotation=90,
            fontsize=7,
            va="bottom",
            color="purple",
            transform=ax.get_xaxis_transform(),
        )
    ax.set_yticks(range(len(keys)), [k.kid[:8] for k in keys], fontsize=6)
    ax.set_xlim(0, end - start)
    ax.set_xlabel("seconds since the key set was created")
    ax.set_ylabel("key (kid)")
    ax.invert_yaxis()
    legend = [Patch(color=c, label=s) for s, c in _COLORS.items()] + [
        plt.Line2D([], [], marker=".", color="black", ls="", label="accepted (2% shown)"),
        plt.Line2D([], [], marker="x", color="grey", ls="", label="correctly refused (20%)"),
        plt.Line2D([], [], marker="o", color="red", ls="", label="false rejection"),
        plt.Line2D([], [], marker="D", color="magenta", ls="", label="late acceptance"),
    ]
    ax.legend(
        handles=legend,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12),
        fontsize=7,
        ncol=8,
        frameon=False,
    )
    ax.set_title("key states over time, with verification outcomes (faults dashed)", pad=60)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
