"""Verification through a warm remote JWK Set, against the static set and peers' remote clients.

Usage::

    .venv/bin/python bench/remote.py            # full run, updates bench/RESULTS.md
    .venv/bin/python bench/remote.py --quick    # prints only

A loopback HTTP server serves each algorithm's 3-key JWK Set (the fixtures of
``bench/verify.py``). Columns, per algorithm:

- ``static`` (reference): ``keywell.Verifier(JWKSet)``, the set parsed once;
- ``RemoteJWKSet``: ``keywell.Verifier(RemoteJWKSet(url))``, warm (target >= 0.97x);
- ``PyJWKClient``: ``client.get_signing_key_from_jwt(token)`` then ``jwt.decode``;
- ``authlib``: authlib has no remote client; its ``KeySet`` from a document fetched once.

Every case must verify the good token and refuse the bad ones first; the server
must see exactly one request per client during the whole run (warm means warm).
``ratio = static time / case time``: higher is better, 1.00x is as fast as static.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h
import keywell
import verify as vb
from keywell.client import RemoteJWKSet

HERE = Path(__file__).resolve().parent
RESULTS_MD = HERE / "RESULTS.md"
START, END = "<!-- remote:start -->", "<!-- remote:end -->"
ALGS = ("RS256", "PS256", "ES256", "EdDSA")  # remote sets are public: no HS256
COLS = ("RemoteJWKSet", "PyJWKClient", "authlib")
REF = "static"
TARGET = 0.97
OP = "remote"


class JWKSServer:
    """Serve ``/{alg}`` JWK Sets on 127.0.0.1 with a one-hour max-age; count requests."""

    def __init__(self, docs: dict[str, dict[str, Any]]) -> None:
        bodies = {f"/{alg}": json.dumps(doc).encode() for alg, doc in docs.items()}
        self.hits: dict[str, int] = dict.fromkeys(bodies, 0)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                body = bodies.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                owner.hits[self.path] += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "public, max-age=3600")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, alg: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{alg}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def build(fx: vb.AlgFixture, server: JWKSServer) -> dict[str, Callable[[str], Any]]:
    url = server.url(fx.alg)
    static = keywell.Verifier(keywell.JWKSet.from_dict(fx.jwks), issuer=vb.ISS, audience=vb.AUD)
    remote = keywell.Verifier(RemoteJWKSet(url), issuer=vb.ISS, audience=vb.AUD)
    client = vb.pyjwt.PyJWKClient(url)
    decode = vb._pyjwt_decode(fx)
    get_key = client.get_signing_key_from_jwt
    authlib_keys = vb.JsonWebKey.import_key_set(httpx.get(url).json())
    return {
        REF: static.verify,
        "RemoteJWKSet": remote.verify,
        "PyJWKClient": lambda token: decode(token, get_key(token)),
        "authlib": vb._authlib_verifier(authlib_keys, fx.alg),
    }


def check(name: str, fn: Callable[[str], Any], fx: vb.AlgFixture) -> None:
    claims = fn(fx.token)
    if claims["sub"] != vb.SUB:
        raise AssertionError(f"{name}: wrong claims")
    for reason, bad in fx.bad.items():
        try:
            fn(bad)
        except Exception as exc:
            if isinstance(exc, AssertionError):
                raise
        else:
            raise AssertionError(f"{name}/{fx.alg}: accepted a token with {reason}")


def write_section(body: str) -> None:
    block = f"{START}\n{body.rstrip()}\n{END}"
    text = (
        RESULTS_MD.read_text(encoding="utf-8") if RESULTS_MD.exists() else "# Benchmark results\n"
    )
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n## bench/remote.py\n\n" + block + "\n"
    RESULTS_MD.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="short run, prints only")
    ap.add_argument("--rounds", type=int, help="timed rounds (default 40, quick 12)")
    ap.add_argument("--batch-ms", type=float, help="target batch time (default 15, quick 5)")
    ap.add_argument("--clock", choices=sorted(h.CLOCKS), default="cpu")
    ap.add_argument("--write", action=argparse.BooleanOptionalAction, default=None)
    args = ap.parse_args(argv)
    rounds = args.rounds or (12 if args.quick else 40)
    batch_ms = args.batch_ms or (5.0 if args.quick else 15.0)
    write = args.write if args.write is not None else not args.quick
    command = ".venv/bin/python bench/remote.py" + (" " + " ".join(argv or sys.argv[1:])).rstrip()
    started, machine = h.now_utc(), h.machine_note()

    now = int(time.time())
    fixtures = {alg: vb.build_fixture(alg, now) for alg in ALGS}
    server = JWKSServer({alg: fx.jwks for alg, fx in fixtures.items()})
    cases: list[h.Case] = []
    try:
        for alg, fx in fixtures.items():
            for col, fn in build(fx, server).items():
                check(col, fn, fx)
                cases.append(h.Case(OP, alg, col, lambda fn=fn, t=fx.token: fn(t)))
        print(f"{len(cases)} cases pass the sanity check; timing {rounds} rounds", file=sys.stderr)
        res = h.measure(cases, rounds=rounds, batch_s=batch_ms / 1000, clock=args.clock)
        hits = dict(server.hits)
    finally:
        server.stop()
    # one fetch each by RemoteJWKSet, PyJWKClient and the authlib document download
    warm = all(n == 3 for n in hits.values())
    table = h.ratio_table(res, OP, ALGS, COLS, ref=REF)
    paired = {alg: res.paired_ratio(OP, alg, "RemoteJWKSet", REF) or 0.0 for alg in ALGS}
    verdict = "met" if min(paired.values()) >= TARGET else "NOT met"
    report = "\n".join(
        [
            f"Warm remote JWK Set vs the static set ({REF}), {started}; `{command}`.",
            f"{machine}; {vb.CLOCK_NOTE[args.clock]},"
            f" {rounds} rounds of ~{batch_ms:g} ms; versions {h.versions(vb.DISTS)}.",
            "",
            table,
            "",
            "RemoteJWKSet paired ratio (median of per-round ratios): "
            + ", ".join(f"{a} {r:.3f}x" for a, r in paired.items())
            + f"; target >= {TARGET}x {verdict}.",
            f"Requests seen by the JWKS server per algorithm during the run: {hits}"
            + (" (one per client: all warm)." if warm else " (NOT warm: unexpected fetches)."),
        ]
    )
    print(report)
    if write:
        write_section(report)
        print(f"updated {RESULTS_MD}", file=sys.stderr)
    return 0 if warm else 1


if __name__ == "__main__":
    raise SystemExit(main())
