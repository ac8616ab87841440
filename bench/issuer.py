"""Issuer.sign throughput on SQLite and PostgreSQL against the raw signing primitive.

Usage::

    .venv/bin/python bench/issuer.py            # full run, updates bench/RESULTS.md
    .venv/bin/python bench/issuer.py --quick    # short run, prints only

One table, a row per algorithm (ES256, EdDSA), columns:

- ``raw``: the primitive a hand-written issuer would run per token: build the
  claims (iss, sub, iat, exp, a ``secrets.token_urlsafe`` jti), ``json.dumps``,
  base64url, ``cryptography`` sign (plus the DER-to-raw conversion for ECDSA)
  over a precomputed header, and join;
- ``sqlite`` / ``postgres``: ``Issuer.sign(name, {"sub": ...})`` with the store
  on a SQLite file / a fresh PostgreSQL database (``keywell_bench_<random>``
  on 127.0.0.1, dropped afterwards; ``n/a`` when no server answers).

Timed on the wall clock (the database server's time would be invisible to a
thread CPU clock), interleaved rounds, medians (bench/_harness.py).
``ratio = raw_time / issuer_time``; the target is >= 0.90x.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import secrets
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h
from keywell import JWK, JWKSet, jwt
from keywell.issuer import Issuer
from keywell.store import KEKRing

RESULTS_MD = Path(__file__).resolve().parent / "RESULTS.md"
START, END = "<!-- issuer:start -->", "<!-- issuer:end -->"
ALGS = ("ES256", "EdDSA")
COLS = ("sqlite", "postgres")
ISS = "https://issuer.bench"
TTL = 600


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def raw_signer(alg: str) -> tuple[Callable[[], str], JWK]:
    """The hand-written signing path and the public JWK that verifies it."""
    header = b64(
        json.dumps({"alg": alg, "typ": "JWT", "kid": "raw"}, separators=(",", ":")).encode()
    )
    sign: Callable[[bytes], bytes]
    if alg == "ES256":
        key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey = ec.generate_private_key(
            ec.SECP256R1()
        )
        ecdsa = ec.ECDSA(hashes.SHA256())
        ec_key = key

        def sign(data: bytes) -> bytes:
            r, s = decode_dss_signature(ec_key.sign(data, ecdsa))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    else:
        key = ed25519.Ed25519PrivateKey.generate()
        sign = key.sign

    def token() -> str:
        now = int(time.time())
        claims = {
            "sub": "bench",
            "iss": ISS,
            "iat": now,
            "exp": now + TTL,
            "jti": secrets.token_urlsafe(16),
        }
        signing_input = f"{header}.{b64(json.dumps(claims, separators=(',', ':')).encode())}"
        return f"{signing_input}.{b64(sign(signing_input.encode('ascii')))}"

    return token, JWK.from_key(key.public_key(), alg=alg, kid="raw")


@contextmanager
def postgres_url() -> Iterator[str | None]:
    try:
        import psycopg

        admin = psycopg.connect(
            host="127.0.0.1", user="postgres", dbname="test", autocommit=True, connect_timeout=3
        )
    except Exception as exc:
        print(f"postgres unavailable: {exc}", file=sys.stderr)
        yield None
        return
    name = f"keywell_bench_{secrets.token_hex(4)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def build_cases(stack: ExitStack) -> list[h.Case]:
    tmp = stack.enter_context(tempfile.TemporaryDirectory())
    urls = {"sqlite": f"sqlite:///{tmp}/bench.db", "postgres": stack.enter_context(postgres_url())}
    cases = []
    for alg in ALGS:
        raw, public = raw_signer(alg)
        jwt.decode(raw(), JWKSet([public]), issuer=ISS, audience=None)
        cases.append(h.Case("sign", alg, "raw", raw))
    for col, url in urls.items():
        if url is None:
            continue
        issuer = Issuer(url, keks=KEKRing.generate(), auto_upgrade=True, sign_cache_ttl=5.0)
        stack.callback(issuer.close)
        for alg in ALGS:
            name = f"bench-{alg.lower()}"
            issuer.create_keyset(name, issuer=ISS, alg=alg)
            published = JWKSet.from_json(issuer.jwks(name).body)
            sign = issuer.sign
            claims = {"sub": "bench"}

            def fn(
                sign: Callable[..., str] = sign, name: str = name, claims: dict[str, str] = claims
            ) -> str:
                return sign(name, claims, ttl=TTL)

            jwt.decode(fn(), published, issuer=ISS, audience=None)  # sanity
            cases.append(h.Case("sign", alg, col, fn))
    return cases


def render(res: h.Results, command: str, started: str, rounds_note: str) -> str:
    lines = [
        f"Command: `{command}`  ",
        f"Date: {started}; {rounds_note}, wall clock, medians.  ",
        f"Machine: {h.machine_note()}  ",
        "Versions: "
        + ", ".join(
            f"{k} {v}"
            for k, v in h.versions(["keywell", "cryptography", "SQLAlchemy", "psycopg"]).items()
        ),
        "",
        "Cells are `raw time / Issuer.sign time` (1.00x = as fast as the hand-written "
        "primitive; target >= 0.90x). `raw µs/op` is the absolute raw time. The Issuer "
        "reads the store only when its 5 s signer cache entry expires.",
        "",
        h.ratio_table(res, "sign", list(ALGS), list(COLS), ref="raw", mark_best=False),
    ]
    return "\n".join(lines)


def write_section(body: str) -> None:
    text = (
        RESULTS_MD.read_text(encoding="utf-8") if RESULTS_MD.exists() else "# Benchmark results\n"
    )
    block = f"{START}\n{body.rstrip()}\n{END}"
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n## bench/issuer.py\n\n" + block + "\n"
    RESULTS_MD.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run, print only")
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args(argv)
    rounds = args.rounds or (8 if args.quick else 40)
    command = ".venv/bin/python bench/issuer.py" + (" --quick" if args.quick else "")
    started = h.now_utc()
    warnings.simplefilter("error")
    with ExitStack() as stack:
        cases = build_cases(stack)
        print(f"timing {len(cases)} cases, {rounds} rounds ...", file=sys.stderr)
        res = h.measure(cases, rounds=rounds, batch_s=0.02, clock="wall", progress=None)
        note = f"{res.rounds} interleaved rounds, ~20 ms batches"
        report = render(res, command, started, note)
    print(report)
    if not args.quick:
        write_section(report)
        print(f"updated {RESULTS_MD}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
