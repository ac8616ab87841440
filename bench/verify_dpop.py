"""DPoP row of the verify benchmark: access token + proof checked per request (RFC 9449).

Usage::

    .venv/bin/python bench/verify_dpop.py            # ~40 s, updates bench/RESULTS.md
    .venv/bin/python bench/verify_dpop.py --quick    # ~10 s, prints only

Kept beside ``bench/verify.py`` (same harness, its own RESULTS.md section) so
the two can change independently; the verify benchmark may fold it in as an
operation.

Per request keywell runs ``Verifier.verify_request("GET", uri, "DPoP <token>",
proof)``: the proof is parsed and checked (typ, alg bound to the header key,
signature, htm, htu normalised, iat, ath), the access token verified (the
normal path: with a verified-token cache it is served from memory on repeat
requests), ``cnf.jkt`` compared, and the proof recorded in the default
in-memory replay store. Each timed call uses a fresh proof from a pool made
beforehand: a replayed proof would be refused, not timed.

The reference ``raw2`` is two raw signature verifications, what DPoP costs at
the least: for the token and for the proof, each split, base64url-decoded,
verified with ``cryptography`` and ``json.loads``-ed, keys prepared once.
``ratio = raw2_time / keywell_time``; the target is at least 0.85x.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h
from keywell import JWK, Verifier, jwt
from keywell.errors import DPoPReplayError
from keywell.jose import DPoPPolicy, make_proof

HERE = Path(__file__).resolve().parent
RESULTS_MD = HERE / "RESULTS.md"
OP = "dpop"
ALGS = ("ES256", "EdDSA")
URI = "https://api.example/orders"
NOW = 1_800_000_000
TARGET = 0.85


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _raw_verifier(key: JWK, alg: str) -> Callable[[str], dict[str, Any]]:
    public = key.public_key
    if alg == "ES256":
        ecdsa = ec.ECDSA(hashes.SHA256())

        def verify_es(token: str) -> dict[str, Any]:
            h_, p, s = token.split(".")
            sig = _b64d(s)
            der = encode_dss_signature(int.from_bytes(sig[:32]), int.from_bytes(sig[32:]))
            public.verify(der, f"{h_}.{p}".encode(), ecdsa)
            return json.loads(_b64d(p))  # type: ignore[no-any-return]

        return verify_es

    def verify_ed(token: str) -> dict[str, Any]:
        h_, p, s = token.split(".")
        public.verify(_b64d(s), f"{h_}.{p}".encode())
        return json.loads(_b64d(p))  # type: ignore[no-any-return]

    return verify_ed


def build(alg: str, pool: int) -> tuple[Callable[[], object], Callable[[], object]]:
    """The raw2 and keywell callables for one algorithm (token and proof both use ``alg``)."""
    issuer, client = JWK.generate(alg, kid="as-1"), JWK.generate(alg)
    token = jwt.encode(
        {
            "iss": "https://as.example",
            "aud": "api",
            "exp": NOW + 3600,
            "sub": "alice",
            "cnf": {"jkt": client.thumbprint()},
        },
        issuer,
    )
    proofs = [make_proof(client, "GET", URI, access_token=token, now=NOW) for _ in range(pool)]
    verifier = Verifier(
        issuer.public(),
        issuer="https://as.example",
        audience="api",
        clock=lambda: NOW,
        dpop=DPoPPolicy(),
    )
    fresh: Iterator[str] = iter(proofs)
    authorization = f"DPoP {token}"

    def keywell_request() -> object:
        return verifier.verify_request("GET", URI, authorization, next(fresh))

    raw_token, raw_proof = _raw_verifier(issuer, alg), _raw_verifier(client, alg)
    sample = proofs[0]

    def raw2() -> object:
        return raw_token(token), raw_proof(sample)

    # sanity: keywell accepts a fresh proof and refuses a replayed one
    probe = Verifier(
        issuer.public(), issuer=None, audience=None, clock=lambda: NOW, dpop=DPoPPolicy()
    )
    probe.verify_request("GET", URI, authorization, sample)
    try:
        probe.verify_request("GET", URI, authorization, sample)
    except DPoPReplayError:
        return raw2, keywell_request
    raise SystemExit("sanity: a replayed proof was accepted")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--write", action=argparse.BooleanOptionalAction, default=None)
    args = ap.parse_args(argv)
    rounds, batch_ms, budget = (12, 3.0, 8.0) if args.quick else (40, 6.0, 40.0)
    pool = 12_000 if args.quick else 40_000
    write = args.write if args.write is not None else not args.quick
    command = (
        ".venv/bin/python bench/verify_dpop.py" + (" " + " ".join(argv or sys.argv[1:])).rstrip()
    )
    started, machine = h.now_utc(), h.machine_note()
    t0 = time.perf_counter()
    cases = []
    for alg in ALGS:
        raw2, kw = build(alg, pool)
        cases += [h.Case(OP, alg, "raw2", raw2), h.Case(OP, alg, "keywell", kw)]
    res = h.measure(
        cases,
        rounds=rounds,
        batch_s=batch_ms / 1000,
        budget_s=budget,
        progress=lambda m: print(m, file=sys.stderr, flush=True),
    )
    lines = [
        f"Command: `{command}`  ",
        f"Date: {started}; {machine}; {res.rounds} rounds, clock {res.clock}, "
        f"{time.perf_counter() - t0:.0f} s  ",
        "",
        "### DPoP: access token + proof per request, against two raw verifications",
        "",
        h.ratio_table(res, OP, ALGS, ["keywell"], ref="raw2", mark_best=False),
        "",
        "- raw2: two raw verifications (token and proof): split, base64url, cryptography, "
        "json.loads",
        "- keywell: Verifier(key, dpop=DPoPPolicy()).verify_request(...): proof checks, token "
        "verify, cnf.jkt, replay store (memory); a fresh proof per call",
        "",
    ]
    for alg in ALGS:
        q = res.paired_quartiles(OP, alg, "keywell", "raw2")
        r = res.paired_ratio(OP, alg, "keywell", "raw2") or 0.0
        spread = f" (per-round quartiles {q[0]:.2f}-{q[2]:.2f})" if q else ""
        verdict = "met" if r >= TARGET else "NOT met"
        lines.append(f"- dpop {alg}: keywell {r:.3f}x raw2{spread}, target >= {TARGET}x: {verdict}")
    report = "\n".join(lines)
    print(report)
    if write:
        h.replace_section(RESULTS_MD, "verify-dpop", report, title="bench/verify_dpop.py")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
