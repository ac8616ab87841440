"""Child process for the shared DPoP replay-store tests (``python -m tests.store.dpop_worker``).

Reads one JSON object on stdin: ``store`` ("redis" or "sql"), ``target`` (a
Redis URL plus ``prefix``, or a database URL), ``jwk`` (the issuer's public
key), ``now``, ``uri`` and a list of ``requests`` ([authorization, proof]).
Prints "ready", waits for a line on stdin (so two workers start together),
then prints one JSON list: "ok" or the error class name per request.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from keywell import JWK
from keywell.errors import KeywellError
from keywell.jose import DPoPPolicy, RedisReplayStore, ReplayStore, Verifier


def _store(job: dict[str, Any]) -> ReplayStore:
    if job["store"] == "redis":
        import redis

        return RedisReplayStore(redis.Redis.from_url(job["target"]), prefix=job["prefix"])
    from keywell.store.dpop_replay import SQLReplayStore

    return SQLReplayStore(job["target"])


def main() -> None:
    job = json.loads(sys.stdin.readline())
    verifier = Verifier(
        JWK.from_dict(job["jwk"]),
        issuer=None,
        audience=None,
        clock=lambda: job["now"],
        dpop=DPoPPolicy(replay=_store(job)),
    )
    print("ready", flush=True)
    sys.stdin.readline()
    results = []
    for authorization, proof in job["requests"]:
        try:
            verifier.verify_request("GET", job["uri"], authorization, proof)
            results.append("ok")
        except KeywellError as exc:
            results.append(type(exc).__name__)
    print(json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
