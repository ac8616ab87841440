"""Child process for multi-process store tests (run with ``python -m tests.store.worker``).

Modes:
  tick URL SECONDS   call Issuer.tick in a loop; print a JSON summary at the end.
  hang URL NAME      start an emergency rotation inside the locked transaction, print
                     "locked", then sleep there until killed.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime

from keywell.issuer import Issuer
from keywell.lifecycle import plan_rotate


def tick(url: str, seconds: float) -> None:
    issuer = Issuer(url)  # KEK from KEYWELL_KEK
    end = time.time() + seconds
    last_start = 0.0
    transitions = 0
    while time.time() < end:
        last_start = time.time()
        transitions += len(issuer.tick())
        time.sleep(0.005)
    issuer.close()
    print(json.dumps({"last_tick_start": last_start, "transitions": transitions}), flush=True)


def hang(url: str, name: str) -> None:
    issuer = Issuer(url)
    store = issuer._store
    now = datetime.now(UTC)
    with store.locked(name, now) as locked:
        steps, _ = plan_rotate(locked.info.policy, locked.keys, now, emergency=True)
        locked.apply(steps, now=now, actor="doomed", action="emergency_rotate")
        print("locked", flush=True)
        time.sleep(600)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "tick":
        tick(sys.argv[2], float(sys.argv[3]))
    elif mode == "hang":
        hang(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(f"unknown mode {mode}")
