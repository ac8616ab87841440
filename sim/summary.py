"""Summarise a finished run: join the processes' records with the key timeline.

Writes ``summary.json``, ``summary.md`` and ``timeline.png``; ``keys.json`` and
``meta.json`` keep what the database held, so ``--analyse DIR`` can recompute
the outputs without a cluster.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sim import analysis, report

POLICY = {
    "rotation_period": 5,
    "prepublish": 5,
    "max_token_ttl": 4,
    "jwks_max_age": 1,
    "clock_skew": 1,
}


def save_run(out: Path, keys: list[analysis.Key], meta: dict[str, Any]) -> None:
    (out / "keys.json").write_text(json.dumps([vars(k) for k in keys]))
    (out / "meta.json").write_text(json.dumps(meta, default=str))


def reanalyse(out: Path) -> dict[str, Any]:
    """Recompute the outputs of a finished run from its files (no cluster needed)."""
    keys = [analysis.Key(**k) for k in json.loads((out / "keys.json").read_text())]
    m = _load(out / "meta.json")
    cluster = argparse.Namespace(tick_interval=m["tick_interval"], poll_interval=m["poll_interval"])
    return summarise(
        out,
        keys,
        [None] * m["audit_events"],
        m["faults"],
        m["calls"],
        m["start"],
        m["load_start"],
        m["read_at"],
        m["duration"],
        cluster,
        m["command"],
        m.get("custody"),
    )


def _load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def summarise(
    out: Path,
    keys: list[analysis.Key],
    audit: list[Any],
    faults: list[dict[str, Any]],
    calls: list[dict[str, Any]],
    start: float,
    load_start: float,
    read_at: float,
    duration: float,
    cluster: Any,
    command: str,
    custody: dict[str, Any] | None = None,
) -> dict[str, Any]:
    minted = [_load(out / f"minter-{i}.json") for i in range(2)]
    tokens = {t[0]: t for m in minted for t in m["tokens"]}
    vers = []
    for i in range(4):
        v = _load(out / f"verifier-{i}.json")
        v["name"] = f"{v['kind']}-{i}"
        vers.append(v)
    mon = _load(out / "monitor.json")
    by_kid = {k.kid: k for k in keys}
    policy = {k: float(v) for k, v in POLICY.items()}
    revoke_returned = {c["kid"]: c["end"] for c in calls if c.get("status") == 200}
    result = analysis.classify(by_kid, tokens, vers, policy["jwks_max_age"], revoke_returned)
    points = result.pop("points")
    tl_max, tl_min = analysis.active_overlap(keys, read_at)
    api_max = max((n for _, n in mon["api_samples"]), default=0)
    fetches = [f for v in vers for f in v["fetches"]]
    signed_after = sum(
        1
        for t in tokens.values()
        if by_kid.get(t[1]) and by_kid[t[1]].revoked_at and t[4] > by_kid[t[1]].revoked_at
    )
    active = {
        "table_max": mon["table_max_active"],
        "table_min": mon["table_min_active"],
        "table_samples": mon["table_samples"],
        "api_max": api_max,
        "api_samples": len(mon["api_samples"]),
        "timeline_max": tl_max,
        "timeline_min": tl_min,
    }
    active["max"] = max(active["table_max"], api_max, tl_max)
    rot = analysis.rotations(keys, policy, read_at - 1.0)
    rot["expected_by_clock"] = int((read_at - start) // policy["rotation_period"])
    summary: dict[str, Any] = {
        "command": command,
        "duration_s": duration,
        "policy": policy,
        "server": {
            "replicas": 3,
            "tick_interval": cluster.tick_interval,
            "poll_interval": cluster.poll_interval,
        },
        "tokens_minted": len(tokens),
        "mint_failures": sum(len(m["failures"]) for m in minted),
        "verification": result,
        "active_keys": active,
        "rotations": rot,
        "fetches": {
            "200": sum(1 for f in fetches if f[2] == 200),
            "304": sum(1 for f in fetches if f[2] == 304),
            "failed": sum(1 for f in fetches if f[2] not in (200, 304)),
        },
        "signed_after_revocation": signed_after,
        "revocation_propagation": analysis.propagation(by_kid, mon["served"]),
        "revocation_calls": calls,
        "faults": faults,
        "audit_events": len(audit),
        "keys": len(keys),
        "load_started_s": load_start - start,
        "custody": custody or {"custody": "db"},
    }
    summary["pass"] = (
        result["false_rejections"] == 0
        and result["late_acceptances"] == 0
        and result["expired_acceptances"] == 0
        and active["max"] == 1
        and active["table_min"] == 1
        and tl_min == 1
        and rot["performed"] == rot["due"]
        and not summary["custody"].get("missing")
    )
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    (out / "summary.md").write_text(report.markdown(summary))
    report.timeline(out / "timeline.png", keys, points, faults, start, read_at)
    return summary
