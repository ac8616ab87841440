"""Classify every verification against the key timeline read from the database.

Definitions (issue 7), with ``F`` = the duration of one fetch: the longest of
the successful JWKS fetches (200 or 304) this verifier could have used for the
verification, i.e. the last one completed before it started and any completed
while it ran. ``t0``/``t1`` are the start and end of the ``verify`` call.

* false rejection: refused, ``t1 < exp`` (unexpired for the whole call), the
  key not revoked at ``t0``, and ``t0 >= published_at + jwks_max_age + F``;
* late acceptance: accepted, the key revoked, and
  ``t0 > R + jwks_max_age + F``, where ``R`` is the time the revoke call
  *returned* to its caller (the server's guarantee starts there: every replica
  serves the new set once the call has returned); ``revoked_at`` as the
  database stamps it when no call is recorded;
* expired acceptance: accepted although ``t0 >= exp``.

Each late acceptance is attributed: "server" when the document the verifier
held was fetched (200 or 304) *after* ``R`` and still listed the key, and was
used within its freshness (a replica broke the guarantee); "client" otherwise
(a document kept past its freshness).
"""

from __future__ import annotations

import bisect
import statistics
from dataclasses import dataclass
from typing import Any

OK = "ok"
CLIENT_CLOCK_SLACK = 0.05
"""Seconds between the recording transport's end stamp and the cache's own clock read."""


@dataclass
class Key:
    kid: str
    state: str
    created_at: float
    published_at: float | None
    activated_at: float | None
    retired_at: float | None
    expires_at: float | None
    revoked_at: float | None


class FetchIndex:
    """One verifier's successful fetches, by completion time."""

    def __init__(self, fetches: list[list[Any]]) -> None:
        ok = sorted((f for f in fetches if f[2] in (200, 304)), key=lambda f: f[1])
        self.ends = [f[1] for f in ok]
        self.fetches = ok
        docs: dict[str, list[str]] = {}
        self.kids: list[list[str] | None] = []
        for f in ok:
            if f[2] == 200 and f[4] is not None:
                docs[f[3]] = f[4]
            self.kids.append(docs.get(f[3]))

    def window(self, t0: float, t1: float) -> tuple[float, int]:
        """(F, index of the document held at t0 or -1) for a call spanning [t0, t1]."""
        lo = bisect.bisect_right(self.ends, t0) - 1
        hi = bisect.bisect_right(self.ends, t1)
        span = self.fetches[max(lo, 0) : hi]
        f = max((x[1] - x[0] for x in span), default=0.0)
        return f, lo


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def active_overlap(keys: list[Key], end: float) -> tuple[int, int]:
    """(max, min) number of simultaneously active keys from the key timestamps."""
    events: list[tuple[float, int]] = []
    for k in keys:
        if k.activated_at is None:
            continue
        stops = [t for t in (k.retired_at, k.revoked_at) if t is not None]
        events += [(k.activated_at, 1), (min(stops) if stops else end, -1)]
    events.sort(key=lambda e: (e[0], e[1]))  # half-open: a retirement ends before an activation
    count, hi, lo = 0, 0, 99
    for i, (t, d) in enumerate(events):
        count += d
        hi = max(hi, count)
        last_at_t = i + 1 == len(events) or events[i + 1][0] != t
        if last_at_t and t < end:  # the count once every change at this instant is applied
            lo = min(lo, count)
    return hi, (lo if lo != 99 else count)


def rotations(keys: list[Key], policy: dict[str, float], end: float) -> dict[str, Any]:
    """Planned rotations due during the run against those performed, with their delays."""
    actives = sorted((k for k in keys if k.activated_at is not None), key=lambda k: k.activated_at)
    due = performed = 0
    delays: list[float] = []
    for i, k in enumerate(actives):
        succ = actives[i + 1] if i + 1 < len(actives) else None
        pending_pub = succ.published_at if succ and succ.published_at else k.activated_at
        at = max(k.activated_at + policy["rotation_period"], pending_pub + policy["prepublish"])
        if (k.revoked_at is not None and k.revoked_at < at) or at > end:
            continue
        due += 1
        if k.retired_at is not None:
            performed += 1
            delays.append(k.retired_at - at)
    return {
        "due": due,
        "performed": performed,
        "max_delay_s": round(max(delays, default=0.0), 3),
        "p50_delay_s": round(_pct(delays, 0.5), 3),
        "activations": len(actives),
    }


def classify(
    keys: dict[str, Key],
    tokens: dict[int, list[Any]],
    verifiers: list[dict[str, Any]],
    max_age: float,
    revoke_returned: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Count and classify every verification (see the module docstring).

    ``revoke_returned`` maps a revoked kid to the time its revoke call returned.
    """
    returned = revoke_returned or {}
    counts = {"verifications": 0, "accepted": 0, "refused": 0}
    refusals: dict[str, int] = {}
    false_rej: list[dict[str, Any]] = []
    late: list[dict[str, Any]] = []
    expired_acc: list[dict[str, Any]] = []
    latency: dict[str, list[float]] = {"sync": [], "async": []}
    points: list[tuple[float, str, str]] = []  # (t0, kid, class) for the picture
    after_stamp = 0
    for v in verifiers:
        index = FetchIndex(v["fetches"])
        for tid, t0, t1, outcome in v["records"]:
            tok = tokens.get(tid)
            if tok is None:
                continue
            kid, exp = tok[1], tok[3]
            key = keys.get(kid)
            counts["verifications"] += 1
            latency[v["kind"]].append(t1 - t0)
            f, held = index.window(t0, t1)
            detail = {
                "verifier": v["name"],
                "tid": tid,
                "kid": kid,
                "t0": t0,
                "t1": t1,
                "exp": exp,
                "outcome": outcome,
                "fetch_s": round(f, 4),
            }
            if outcome == OK:
                counts["accepted"] += 1
                cls = "accepted"
                if key and key.revoked_at is not None and t0 > key.revoked_at + max_age + f:
                    after_stamp += 1  # informative: measured from the database's stamp
                ref = None if key is None else returned.get(kid, key.revoked_at)
                if key and ref is not None and t0 > ref + max_age + f:
                    doc = index.fetches[held] if held >= 0 else None
                    lag = bool(
                        doc
                        and doc[0] > ref
                        and kid in (index.kids[held] or [])
                        and t0 <= doc[1] + max_age + CLIENT_CLOCK_SLACK
                    )
                    detail["cause"] = "server" if lag else "client"
                    if doc:
                        detail["doc"] = {
                            "fetch_started_after_revoke_returned_s": round(doc[0] - ref, 4),
                            "status": doc[2],
                            "replica": doc[5],
                        }
                    detail["late_by_s"] = round(t0 - (ref + max_age + f), 4)
                    late.append(detail)
                    cls = "late"
                if t0 >= exp:
                    expired_acc.append(detail)
                    cls = "late"
                points.append((t0, kid, cls))
                continue
            counts["refused"] += 1
            if t1 >= exp:
                why = "expired during or before the call"
            elif key is None:
                why = "key unknown to the database"
            elif key.revoked_at is not None and key.revoked_at <= t0:
                why = "key revoked"
            elif key.published_at is None or t0 < key.published_at + max_age + f:
                why = "key published less than max_age + one fetch before"
            else:
                why = "FALSE REJECTION"
                false_rej.append(detail)
            refusals[why] = refusals.get(why, 0) + 1
            points.append((t0, kid, "false" if why == "FALSE REJECTION" else "refused"))
    every = latency["sync"] + latency["async"]
    lat = {
        name: {
            "p50_ms": round(_pct(vals, 0.5) * 1000, 3),
            "p99_ms": round(_pct(vals, 0.99) * 1000, 3),
            "n": len(vals),
        }
        for name, vals in (("all", every), ("sync", latency["sync"]), ("async", latency["async"]))
    }
    if every:
        lat["all"]["mean_ms"] = round(statistics.fmean(every) * 1000, 3)
    return {
        **counts,
        "refusals": refusals,
        "false_rejections": len(false_rej),
        "late_acceptances": len(late),
        "late_acceptances_client": sum(1 for d in late if d["cause"] == "client"),
        "late_acceptances_server": sum(1 for d in late if d["cause"] == "server"),
        "accepted_after_db_revoked_at": after_stamp,
        "expired_acceptances": len(expired_acc),
        "false_rejection_examples": false_rej[:20],
        "late_acceptance_examples": late[:20],
        "expired_acceptance_examples": expired_acc[:20],
        "latency": lat,
        "points": points,
    }


def propagation(keys: dict[str, Key], served: dict[str, list[Any]]) -> dict[str, Any]:
    """For each revoked key, per replica: seconds from revocation until the monitor (polling
    every replica's JWKS every 100 ms) first saw a document without it."""
    out: dict[str, Any] = {}
    for key in keys.values():
        if key.revoked_at is None:
            continue
        per: dict[str, float | None] = {}
        for replica, changes in served.items():
            gone = [t for t, _etag, kids in changes if t >= key.revoked_at and key.kid not in kids]
            per[replica] = round(min(gone) - key.revoked_at, 3) if gone else None
        out[key.kid] = per
    return out
