"""Rotation and fault simulation: prove that rotation never breaks a valid token (issue 7).

3 ``keywell serve`` replicas on one fresh PostgreSQL database behind HAProxy; a
key set rotating every 5 s (prepublish 5 s, max_token_ttl 4 s, jwks_max_age
1 s); 2 minting processes (admin API via HAProxy); 4 verifier processes (2 sync,
2 asyncio) with a RemoteJWKSet on HAProxy; faults on a schedule (SIGKILL and
restart, SIGSTOP longer than the max-age, pg_terminate_backend, one emergency
revocation of the active key). Writes summary.json, summary.md and
timeline.png to the output directory; exits 1 unless every zero holds.
``--custody transit`` keeps the set's keys in Transit on an OpenBao dev server
(:mod:`sim.custody`).

    python sim/rotation.py --duration 150          # make sim
    python sim/rotation.py --duration 150 --custody transit   # make sim CUSTODY=transit
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shlex
import signal
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sim import analysis, custody, verifiers, workers
from sim.cluster import Cluster
from sim.summary import POLICY, reanalyse, save_run, summarise

ISSUER = "https://issuer.sim.test"
JWKS_PATH = "/.well-known/jwks.json"


def _admin(cluster: Cluster) -> httpx.Client:
    return httpx.Client(
        base_url=cluster.haproxy.url,
        headers={"Authorization": f"Bearer {cluster.admin_secret}"},
        timeout=10,
    )


def fault_plan(
    cluster: Cluster, duration: float, log: list[dict[str, Any]]
) -> list[tuple[float, str, Callable[[], str]]]:
    """The schedule, as fractions of the run: each fault once, most of them twice."""
    r1, r2, r3 = cluster.replicas

    def kill(r: Any) -> Callable[[], str]:
        return lambda: (r.kill(), f"{r.name} pid {r.proc.pid}")[1]

    def restart(r: Any) -> Callable[[], str]:
        return lambda: (r.start(), f"{r.name} pid {r.proc.pid}")[1]

    def sig(r: Any, s: signal.Signals) -> Callable[[], str]:
        return lambda: (r.signal(s), r.name)[1]

    def terminate() -> str:
        return f"{cluster.db.terminate_backends()} connections"

    def revoke() -> str:
        with _admin(cluster) as http:
            keys = http.get("/admin/v1/keysets/default/keys").json()
            kid = next(k["kid"] for k in keys if k["state"] == "active")
            t0 = time.time()
            resp = http.post(
                f"/admin/v1/keysets/default/keys/{kid}/revoke",
                json={"reason": "simulated compromise"},
            )
            returned = time.time()  # the guarantee starts when the call returns
            call: dict[str, Any] = {
                "kind": "revoke-call",
                "kid": kid,
                "start": t0,
                "end": returned,
                "status": resp.status_code,
                "replica": resp.headers.get("x-served-by", "?"),
            }
            if resp.status_code == 200:
                committed = resp.json()[0].get("committed_at")
                if committed:
                    call["committed"] = datetime.fromisoformat(committed).timestamp()
            log.append(call)
        return f"active key {kid[:10]}… (HTTP {resp.status_code}, returned at {returned:.3f})"

    stop_for, down_for = 2.5, 3.0
    plan = [
        (0.12, "SIGKILL", kill(r1)),
        (0.12 + down_for / duration, "restart", restart(r1)),
        (0.27, "SIGSTOP", sig(r2, signal.SIGSTOP)),
        (0.27 + stop_for / duration, "SIGCONT", sig(r2, signal.SIGCONT)),
        (0.40, "pg_terminate_backend", terminate),
        (0.55, "revoke", revoke),
        (0.70, "SIGKILL", kill(r3)),
        (0.70 + down_for / duration, "restart", restart(r3)),
        (0.82, "SIGSTOP", sig(r1, signal.SIGSTOP)),
        (0.82 + stop_for / duration, "SIGCONT", sig(r1, signal.SIGCONT)),
        (0.90, "pg_terminate_backend", terminate),
    ]
    return sorted((frac * duration, kind, action) for frac, kind, action in plan)


def _read_keys(cluster: Cluster) -> tuple[list[analysis.Key], list[Any]]:
    from keywell.issuer import Issuer
    from keywell.store.kek import KEKRing

    issuer = Issuer(cluster.db.url, keks=KEKRing.from_env({"KEYWELL_KEK": cluster.kek}))
    try:

        def ts(d: Any) -> float | None:
            return None if d is None else d.timestamp()

        keys = [
            analysis.Key(
                k.kid,
                k.state.value,
                k.created_at.timestamp(),
                ts(k.published_at),
                ts(k.activated_at),
                ts(k.retired_at),
                ts(k.expires_at),
                ts(k.revoked_at),
            )
            for k in issuer.keys("default")
        ]
        audit = issuer.history("default", limit=1000)
    finally:
        issuer.close()
    return keys, audit


def run(
    duration: float,
    out: Path,
    per_token: int,
    mint_rate: float,
    poll_interval: float,
    tick_interval: float,
    command: str,
    custody_name: str = "db",
) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    backend = custody.open_backend(custody_name, out)
    custody_report: dict[str, Any] = {"custody": "db"}
    cluster = Cluster(out, tick_interval=tick_interval, poll_interval=poll_interval)
    ctx = mp.get_context("spawn")
    procs: list[Any] = []
    faults: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    try:
        cluster.start()
        with _admin(cluster) as http:
            start = time.time()
            body: dict[str, Any] = {
                "name": "default",
                "issuer": ISSUER,
                "alg": "ES256",
                "policy": POLICY,
            }
            if backend is not None:
                body["custody"] = backend.uri
            resp = http.post("/admin/v1/keysets", json=body)
            resp.raise_for_status()
        mint_stop, verify_stop, mon_stop = ctx.Event(), ctx.Event(), ctx.Event()
        queues = [ctx.Queue() for _ in range(4)]
        jwks_url = cluster.haproxy.url + JWKS_PATH
        replica_urls = {r.name: f"http://127.0.0.1:{r.port}" for r in cluster.replicas}
        mon = ctx.Process(
            target=workers.monitor,
            args=(
                cluster.db.dsn,
                cluster.haproxy.url,
                replica_urls,
                cluster.admin_secret,
                mon_stop,
                str(out / "monitor.json"),
                JWKS_PATH,
            ),
        )
        vprocs = [
            ctx.Process(
                target=fn,
                args=(
                    i,
                    jwks_url,
                    ISSUER,
                    float(POLICY["jwks_max_age"]),
                    per_token,
                    queues[i],
                    verify_stop,
                    str(out / f"verifier-{i}.json"),
                ),
            )
            for i, fn in enumerate(
                [
                    verifiers.sync_verifier,
                    verifiers.sync_verifier,
                    verifiers.async_verifier,
                    verifiers.async_verifier,
                ]
            )
        ]
        mprocs = [
            ctx.Process(
                target=workers.minter,
                args=(
                    i,
                    cluster.haproxy.url,
                    cluster.admin_secret,
                    "default",
                    mint_rate,
                    queues,
                    mint_stop,
                    str(out / f"minter-{i}.json"),
                ),
            )
            for i in range(2)
        ]
        procs = [mon, *vprocs, *mprocs]
        for p in procs:
            p.start()
        load_start = time.time()
        for at, kind, action in fault_plan(cluster, duration, calls):
            time.sleep(max(0.0, load_start + at - time.time()))
            t = time.time()
            detail = action()
            end = time.time()
            faults.append({"t": t - start, "returned": end - start, "kind": kind, "detail": detail})
            print(f"[sim] {t - start:6.1f}s {kind} {detail}", flush=True)
        time.sleep(max(0.0, load_start + duration - time.time()))
        mint_stop.set()
        for p in mprocs:
            p.join(30)
        time.sleep(0.5)
        verify_stop.set()
        for p in vprocs:
            p.join(60)
        mon_stop.set()
        mon.join(30)
        read_at = time.time()
        keys, audit = _read_keys(cluster)
        if backend is not None:
            for replica in cluster.replicas:  # no destroy may still be under way
                replica.stop()
            custody_report = backend.report(cluster.db.dsn, "default")
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
        cluster.close()
        if backend is not None:
            backend.close()
    save_run(
        out,
        keys,
        {
            "faults": faults,
            "calls": calls,
            "start": start,
            "load_start": load_start,
            "read_at": read_at,
            "duration": duration,
            "command": command,
            "audit_events": len(audit),
            "tick_interval": tick_interval,
            "poll_interval": poll_interval,
            "custody": custody_report,
        },
    )
    return summarise(
        out,
        keys,
        audit,
        faults,
        calls,
        start,
        load_start,
        read_at,
        duration,
        cluster,
        command,
        custody_report,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=150.0, help="seconds of load")
    parser.add_argument("--out", type=Path, default=None, help="output directory")
    parser.add_argument(
        "--per-token", type=int, default=8, help="verifications of each token by each verifier"
    )
    parser.add_argument("--mint-rate", type=float, default=20.0, help="tokens/s per minter")
    parser.add_argument(
        "--poll-interval", type=float, default=0.1, help="replicas' KEYWELL_POLL_INTERVAL"
    )
    parser.add_argument(
        "--tick-interval", type=float, default=0.2, help="replicas' KEYWELL_TICK_INTERVAL"
    )
    parser.add_argument(
        "--custody",
        choices=custody.CHOICES,
        default="db",
        help="where the key set's private keys live (transit: an OpenBao dev server)",
    )
    parser.add_argument(
        "--analyse",
        type=Path,
        default=None,
        help="recompute the outputs of the run in this directory",
    )
    args = parser.parse_args(argv)
    if args.analyse is not None:
        summary = reanalyse(args.analyse)
        print((args.analyse / "summary.md").read_text())
        return 0 if summary["pass"] else 1
    out = args.out or Path(__file__).resolve().parent / "out" / time.strftime("%Y%m%d-%H%M%S")
    command = "python sim/rotation.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    summary = run(
        args.duration,
        out,
        args.per_token,
        args.mint_rate,
        args.poll_interval,
        args.tick_interval,
        command,
        args.custody,
    )
    print((out / "summary.md").read_text())
    print(f"[sim] outputs in {out}")
    return 0 if summary["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
