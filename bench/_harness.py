"""Shared timing helpers for keywell's benchmarks.

The model: a benchmark is a list of :class:`Case` objects, each one zero-argument
callable doing a single operation, named by a table (``op``), a row (``row``,
e.g. the algorithm) and a column (``col``, e.g. the library). :func:`measure`
calibrates a batch size per case, then runs *rounds*: in each round every case
runs one batch, cases of the same table and row back to back, with the order of
the columns rotated from round to round so no column always runs first. The
per-operation time of a case is the median over rounds. Ratios are taken
against a reference column (``raw``): ``ratio = ref_time / case_time``, so 1.0
means "as fast as the reference" and higher is better.

Nothing here knows about JOSE; ``bench/verify.py`` is one user.
"""

from __future__ import annotations

import datetime as _dt
import functools
import gc
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "CLOCKS",
    "Case",
    "Result",
    "Results",
    "calibrate",
    "loop_overhead_ns",
    "machine_note",
    "measure",
    "ratio_table",
    "replace_section",
    "versions",
]


@dataclass(frozen=True)
class Case:
    """One timed operation: table ``op``, row ``row``, column ``col``."""

    op: str
    row: str
    col: str
    fn: Callable[[], object]


@dataclass
class Result:
    """Per-operation times (ns) of one case, one entry per round."""

    case: Case
    batch: int
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def iqr_rel(self) -> float:
        """Inter-quartile range relative to the median (a noise indicator)."""
        if len(self.samples) < 4:
            return 0.0
        q = statistics.quantiles(self.samples, n=4)
        return (q[2] - q[0]) / self.median


class Results:
    """Results of one :func:`measure` run, indexed by (op, row, col)."""

    def __init__(self, results: Iterable[Result], overhead_ns: float, clock: str) -> None:
        self.by_key = {(r.case.op, r.case.row, r.case.col): r for r in results}
        self.overhead_ns = overhead_ns
        self.clock = clock

    @property
    def rounds(self) -> int:
        """Timed rounds actually run (a time budget may cut a run short)."""
        return min((len(r.samples) for r in self.by_key.values()), default=0)

    def noise(self) -> tuple[float, float]:
        """Median and worst relative IQR over all cases."""
        spread = sorted(r.iqr_rel for r in self.by_key.values())
        return (spread[len(spread) // 2], spread[-1]) if spread else (0.0, 0.0)

    def get(self, op: str, row: str, col: str) -> Result | None:
        return self.by_key.get((op, row, col))

    def ratio(self, op: str, row: str, col: str, ref: str) -> float | None:
        """``ref`` median time over ``col`` median time (higher is better)."""
        r, c = self.get(op, row, ref), self.get(op, row, col)
        if r is None or c is None:
            return None
        return r.median / c.median

    def paired_ratio(self, op: str, row: str, col: str, ref: str) -> float | None:
        """Median of per-round ratios: robust to slow drifts on a shared machine."""
        r, c = self.get(op, row, ref), self.get(op, row, col)
        if r is None or c is None:
            return None
        return statistics.median(a / b for a, b in zip(r.samples, c.samples, strict=True))

    def paired_quartiles(
        self, op: str, row: str, col: str, ref: str
    ) -> tuple[float, float, float] | None:
        """First quartile, median and third quartile of the per-round ratios."""
        r, c = self.get(op, row, ref), self.get(op, row, col)
        if r is None or c is None or len(r.samples) < 4:
            return None
        ratios = [a / b for a, b in zip(r.samples, c.samples, strict=True)]
        q1, q2, q3 = statistics.quantiles(ratios, n=4)
        return q1, q2, q3

    def to_json(self, ref: str) -> list[dict[str, Any]]:
        out = []
        for (op, row, col), res in self.by_key.items():
            out.append(
                {
                    "op": op,
                    "row": row,
                    "col": col,
                    "median_ns": round(res.median, 1),
                    "iqr_rel": round(res.iqr_rel, 4),
                    "batch": res.batch,
                    "rounds": len(res.samples),
                    "ratio": _round(self.ratio(op, row, col, ref)),
                    "paired_ratio": _round(self.paired_ratio(op, row, col, ref)),
                }
            )
        return out


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def _noop() -> None:
    return None


#: Clocks :func:`measure` can use. ``cpu`` (the default) is this thread's CPU time: on a
#: shared machine it leaves out the time the scheduler gives to other processes, which
#: wall time (``wall``) counts as if it were ours.
CLOCKS: dict[str, Callable[[], int]] = {"cpu": time.thread_time_ns, "wall": time.perf_counter_ns}


def _time_batch(fn: Callable[[], object], n: int, clock: Callable[[], int]) -> int:
    """Run ``fn`` ``n`` times with the GC off; return elapsed ns on ``clock``."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        it = range(n)
        t0 = clock()
        for _ in it:
            fn()
        return clock() - t0
    finally:
        if gc_was_enabled:
            gc.enable()


def loop_overhead_ns(clock: str = "cpu", repeat: int = 7, n: int = 200_000) -> float:
    """Per-iteration cost of the timing loop calling a ``functools.partial`` no-op."""
    fn = functools.partial(_noop)
    return min(_time_batch(fn, n, CLOCKS[clock]) for _ in range(repeat)) / n


def calibrate(fn: Callable[[], object], batch_s: float, clock: str = "cpu") -> int:
    """The number of calls of ``fn`` that takes about ``batch_s`` seconds (at least 1)."""
    n = 1
    while True:
        elapsed = _time_batch(fn, n, CLOCKS[clock])
        if elapsed >= batch_s * 1e9 / 4 or n >= 1 << 24:
            per = elapsed / n
            return max(1, round(batch_s * 1e9 / per))
        n *= 4


def measure(
    cases: Sequence[Case],
    *,
    rounds: int,
    batch_s: float,
    warmup_rounds: int = 1,
    subtract_overhead: bool = True,
    clock: str = "cpu",
    budget_s: float | None = None,
    min_rounds: int = 8,
    progress: Callable[[str], None] | None = None,
) -> Results:
    """Time ``cases`` in interleaved rounds on ``clock`` (see :data:`CLOCKS`).

    With ``budget_s``, stop after the round that exceeds that many wall-clock
    seconds (once ``min_rounds`` are done): on a busy machine a run stays short
    and reports fewer rounds instead of taking twice as long.
    """
    timer = CLOCKS[clock]
    overhead = loop_overhead_ns(clock) if subtract_overhead else 0.0
    groups: dict[tuple[str, str], list[Case]] = {}
    for case in cases:
        groups.setdefault((case.op, case.row), []).append(case)
    results = {id(c): Result(c, calibrate(c.fn, batch_s, clock)) for c in cases}
    total = warmup_rounds + rounds
    t_start = time.perf_counter()
    for rnd in range(total):
        for members in groups.values():
            k = rnd % len(members)
            order = members[k:] + members[:k]
            if rnd % 2:
                order.reverse()
            for case in order:
                res = results[id(case)]
                elapsed = _time_batch(case.fn, res.batch, timer)
                if rnd >= warmup_rounds:
                    res.samples.append(max(elapsed / res.batch - overhead, 1e-3))
        spent = time.perf_counter() - t_start
        if progress is not None and (rnd + 1) % max(1, total // 10) == 0:
            progress(f"round {rnd + 1}/{total} ({spent:.0f} s)")
        timed = rnd + 1 - warmup_rounds
        if budget_s is not None and spent > budget_s and timed >= min_rounds:
            if progress is not None:
                progress(f"time budget of {budget_s:g} s reached after {timed} timed rounds")
            break
    return Results(results.values(), overhead, clock)


def _fmt_time(ns: float) -> str:
    us = ns / 1000
    return f"{us:.1f}" if us >= 10 else f"{us:.2f}"


def ratio_table(
    results: Results,
    op: str,
    rows: Sequence[str],
    cols: Sequence[str],
    *,
    ref: str,
    mark_best: bool = True,
) -> str:
    """A markdown table of ratios to ``ref``: one row per ``rows``, one column per ``cols``.

    The reference column shows its absolute time (µs/op); the best ratio of each
    row is bold. Missing cases (unsupported) show ``n/a``.
    """
    head = f"| alg | {ref} µs/op | " + " | ".join(cols) + " |"
    sep = "|---|---:|" + "---:|" * len(cols)
    lines = [head, sep]
    for row in rows:
        ref_res = results.get(op, row, ref)
        if ref_res is None:
            continue
        ratios = {c: results.ratio(op, row, c, ref) for c in cols}
        present = [v for v in ratios.values() if v is not None]
        best = max(present) if present and mark_best else None
        cells = []
        for c in cols:
            v = ratios[c]
            if v is None:
                cells.append("n/a")
            elif v == best:
                cells.append(f"**{v:.2f}x**")
            else:
                cells.append(f"{v:.2f}x")
        lines.append(f"| {row} | {_fmt_time(ref_res.median)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def versions(dists: Iterable[str]) -> dict[str, str]:
    """Installed versions of the given distributions ("-" when missing)."""
    out = {}
    for name in dists:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "-"
    return out


def machine_note() -> str:
    """CPU model, cores, load, Python and OpenSSL versions, in one line."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    try:
        from cryptography.hazmat.backends.openssl.backend import backend

        ssl = backend.openssl_version_text()
    except Exception:
        ssl = "?"
    py = f"{platform.python_implementation()} {sys.version.split()[0]}"
    return f"{cpu}, {os.cpu_count()} cores (shared), load avg {load}; {py}; {ssl}"


def now_utc() -> str:
    """The current UTC date and time, to the minute."""
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def replace_section(path: Path, name: str, body: str, *, title: str | None = None) -> None:
    """Write ``body`` between ``<!-- bench:NAME:start -->`` and ``...:end -->`` in ``path``.

    The section is appended (under ``title``) if the markers are not there yet;
    everything outside the markers is kept as is.
    """
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        heading = f"\n## {title}\n\n" if title else "\n"
        text = text.rstrip() + "\n" + heading + block + "\n"
    path.write_text(text, encoding="utf-8")


def check_all(checks: Mapping[str, Callable[[], None]]) -> list[str]:
    """Run named sanity checks; return ``name: error`` for each that raised."""
    failures = []
    for name, check in checks.items():
        try:
            check()
        except Exception as exc:
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
    return failures
