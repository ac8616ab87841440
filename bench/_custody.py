"""The custody backends of the benchmarks, started on loopback by the bench itself.

One place per backend, shared with the tests: SoftHSM2 tokens as
``tests/custody/backend_pkcs11.py`` makes them, OpenBao's dev server from
``sim/openbao.py`` (via ``sim/custody.py``), moto's KMS from
``tests/custody/moto_kms.py``. :func:`backends` yields ``custody -> URI`` and
the environment variables a process needs to reach them (a server subprocess
gets them too); everything stops when the ``with`` block ends.
"""

from __future__ import annotations

import math
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.custody and sim are imported from the checkout

CUSTODIES = ("db", "pkcs11", "transit", "awskms")
TIMEOUT = 5  # seconds per backend call in the URIs


@dataclass
class Backends:
    """The running backends: ``uris[custody]`` and the environment that reaches them."""

    uris: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


def _softhsm(workdir: Path, out: Backends) -> None:
    from tests.custody.backend_pkcs11 import MODULE, TOKEN, _init_token

    (workdir / "tokens").mkdir(parents=True)
    conf = workdir / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {workdir / 'tokens'}\nobjectstore.backend = file\n"
        "log.level = ERROR\n"
    )
    pin = secrets.token_hex(8)
    pin_file = workdir / "pin"
    pin_file.write_text(pin + "\n")
    env = {"SOFTHSM2_CONF": str(conf)}
    _init_token(TOKEN, pin, {**os.environ, **env})
    out.env.update(env)
    out.uris["pkcs11"] = (
        f"pkcs11:token={TOKEN};object-prefix=bench-?module-path={MODULE}"
        f"&pin-source=file:{pin_file}&timeout={TIMEOUT}"
    )
    out.notes["pkcs11"] = "SoftHSM2 (in process, file token)"


@contextmanager
def backends(workdir: Path, wanted: tuple[str, ...] = CUSTODIES) -> Iterator[Backends]:
    """Start the ``wanted`` custodies (``db`` needs nothing) and stop them afterwards.

    The variables of :attr:`Backends.env` are also set in ``os.environ`` for
    the duration (boto3 and SoftHSM2 read them there).
    """
    out = Backends()
    saved = dict(os.environ)
    with ExitStack() as stack:
        if "db" in wanted:
            out.uris["db"] = "db"
            out.notes["db"] = "AES-256-GCM sealed key in the store"
        if "pkcs11" in wanted:
            _softhsm(workdir / "softhsm", out)
        if "transit" in wanted:
            from sim.custody import TransitBackend

            transit = TransitBackend(workdir / "openbao")
            stack.callback(transit.close)
            out.uris["transit"] = transit.uri
            out.notes["transit"] = "OpenBao dev server on loopback (HTTP)"
        if "awskms" in wanted:
            from tests.custody.moto_kms import MotoKMS

            (workdir / "moto").mkdir(parents=True)
            moto = MotoKMS(workdir / "moto")
            stack.callback(moto.stop)
            out.env.update(moto.environment())
            out.uris["awskms"] = moto.uri("eu-west-1", timeout=TIMEOUT, direct=True)
            out.notes["awskms"] = "moto_server on loopback (HTTP, IAM enforced)"
        os.environ.update(out.env)
        try:
            yield out
        finally:
            from keywell.custody import close_all

            close_all()
            os.environ.clear()
            os.environ.update(saved)


def time_calls(
    fns: dict[str, Callable[[], object]], *, rounds: int, per_round: dict[str, int]
) -> dict[str, list[int]]:
    """Per-call wall-clock latencies (ns) of each function, in interleaved rounds.

    Each round runs ``per_round[name]`` calls of every function back to back,
    the order of the functions rotated from round to round; one untimed round
    first warms connections and caches.
    """
    names = list(fns)
    samples: dict[str, list[int]] = {name: [] for name in names}
    for rnd in range(rounds + 1):
        k = rnd % len(names)
        for name in names[k:] + names[:k]:
            fn, n = fns[name], per_round[name]
            for _ in range(n):
                started = time.perf_counter_ns()
                fn()
                if rnd:
                    samples[name].append(time.perf_counter_ns() - started)
    return samples


def percentile(values: list[int], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))])
