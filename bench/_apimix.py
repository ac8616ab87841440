"""The API-mix workload of bench/verify.py: distinct valid tokens, each verified many times.

A pass verifies ``distinct`` tokens ``repeat`` times each, in one shuffled
order (fixed seed), the way a service sees the access tokens of its clients.
Each library verifies the whole pass with a verifier built just before it (so
keywell's token cache starts empty: ``distinct`` misses, the rest hits), timed
as one unit on this thread's CPU clock with the garbage collector on, and the
cell is the pass time divided by its verifications. Rounds interleave the
libraries (rotated, every other round reversed); the median round is reported.
Batches shorter than a pass would not do: first sightings crowd the start of
a shuffled pass, so a median of batches would under-count the misses.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

#: ``builder(fixture) -> verify(token)``: a fresh verifier for one pass.
Builder = Callable[[Any], Callable[[str], Any]]


def pass_tokens(tokens: Sequence[str], distinct: int, repeat: int, seed: int = 15) -> list[str]:
    """``distinct`` tokens, each ``repeat`` times, shuffled."""
    if len(tokens) < distinct:
        raise ValueError(f"need {distinct} distinct tokens, have {len(tokens)}")
    sequence = list(tokens[:distinct]) * repeat
    random.Random(seed).shuffle(sequence)
    return sequence


def time_pass(verify: Callable[[str], Any], sequence: Sequence[str]) -> float:
    """Nanoseconds of thread CPU time per verification over one pass."""
    clock = time.thread_time_ns
    t0 = clock()
    for token in sequence:
        verify(token)
    return (clock() - t0) / len(sequence)


def run(
    fixtures: dict[str, Any],
    builders: dict[str, Builder],
    *,
    rounds: int,
    distinct: int = 1000,
    repeat: int = 20,
    after_pass: Callable[[str, str, Callable[[str], Any]], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[tuple[str, str], list[float]]:
    """Per (alg, lib), the ns per verification of each round's pass."""
    samples: dict[tuple[str, str], list[float]] = {}
    libs = list(builders)
    for alg, fx in fixtures.items():
        sequence = pass_tokens(fx.stream, distinct, repeat)
        for lib in libs:  # warm-up pass: imports, first-call caches
            builders[lib](fx)(sequence[0])
        for rnd in range(rounds):
            k = rnd % len(libs)
            order = libs[k:] + libs[:k]
            if rnd % 2:
                order.reverse()
            for lib in order:
                verify = builders[lib](fx)
                samples.setdefault((alg, lib), []).append(time_pass(verify, sequence))
                if after_pass is not None:
                    after_pass(alg, lib, verify)
        if progress is not None:
            progress(f"API mix {alg}: {rounds} rounds done")
    return samples


def table(
    samples: dict[tuple[str, str], list[float]], algs: Sequence[str], libs: Sequence[str], ref: str
) -> tuple[str, dict[str, tuple[float, str, float]]]:
    """A markdown table of µs per verification, and per alg (keywell / fastest peer, name)."""
    peers = [lib for lib in libs if lib not in (ref, "keywell")]
    head = f"| alg | {ref} µs | " + " | ".join(f"{lib} µs" for lib in libs if lib != ref)
    lines = [head + " | keywell vs fastest peer |", "|---|" + "---:|" * len(libs) + "---:|"]
    leads: dict[str, tuple[float, str, float]] = {}
    for alg in algs:
        med = {
            lib: statistics.median(samples[alg, lib]) / 1000
            for lib in libs
            if (alg, lib) in samples
        }
        if "keywell" not in med or ref not in med:
            continue
        present = {p: med[p] for p in peers if p in med}
        fastest = min(present, key=lambda p: present[p]) if present else "-"
        lead = present[fastest] / med["keywell"] if present else float("nan")
        leads[alg] = (lead, fastest, med["keywell"])
        cells = [f"{med[lib]:.2f}" if lib in med else "n/a" for lib in libs if lib != ref]
        lines.append(
            f"| {alg} | {med[ref]:.2f} | " + " | ".join(cells) + f" | **{lead:.1f}x** ({fastest}) |"
        )
    return "\n".join(lines), leads


def cache_memory(make_verifier: Callable[[], Any], tokens: Sequence[bytes]) -> tuple[int, Any]:
    """Bytes still allocated (tracemalloc) after one verifier verified each token once.

    The token texts are created inside the measurement, as a server's request
    strings would be, so the cache's copy of each token is counted.
    """
    import gc
    import tracemalloc

    verifier = make_verifier()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for raw in tokens:
            verifier.verify(raw.decode("ascii"))
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    return used, verifier.health()
