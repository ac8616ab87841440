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

A second table, sign latency per custody (issue 14): ``Issuer.sign`` of an
ES256 set whose key is in each custody (``db``, ``pkcs11`` on SoftHSM2,
``transit`` on an OpenBao dev server, ``awskms`` on moto), every backend
started on loopback by the bench (bench/_custody.py, shared with the tests),
each call timed: p50, p99, the ratio to ``db`` custody, and the backend's own
sign call alone. ``--custody pkcs11,awskms`` picks custodies, ``--custody ''``
skips the table, ``--custody-only`` skips the first one.
"""

from __future__ import annotations

import argparse
import base64
import functools
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
from _custody import CUSTODIES, Backends, backends, percentile, time_calls
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


def custody_fns(
    backends: Backends, workdir: Path, stack: ExitStack
) -> tuple[dict[str, Callable[[], object]], dict[str, Callable[[], object]]]:
    """Per custody: ``Issuer.sign`` of an ES256 set, and the backend's own sign call alone."""
    from keywell.custody import open_custody

    issuer = Issuer(
        f"sqlite:///{workdir}/custody.db",
        keks=KEKRing.generate(),
        auto_upgrade=True,
        sign_cache_ttl=5.0,
    )
    stack.callback(issuer.close)
    via_issuer: dict[str, Callable[[], object]] = {}
    alone: dict[str, Callable[[], object]] = {}
    data = b"x" * 200  # about a token's signing input
    for custody, uri in backends.uris.items():
        name = f"bench-{custody}"
        issuer.create_keyset(name, issuer=ISS, alg="ES256", custody=uri)
        published = JWKSet.from_json(issuer.jwks(name).body)
        sign = functools.partial(issuer.sign, name, {"sub": "bench"}, ttl=TTL)
        jwt.decode(sign(), published, issuer=ISS, audience=None)  # sanity
        via_issuer[custody] = sign
        backend = open_custody(uri)
        if backend is None:
            key = ec.generate_private_key(ec.SECP256R1())
            alone[custody] = functools.partial(key.sign, data, ec.ECDSA(hashes.SHA256()))
        else:
            made = backend.generate("ES256", keyset="bench-alone")
            alone[custody] = functools.partial(backend.signer(made.ref, "ES256"), data)
            stack.callback(backend.destroy, made.ref)
    return via_issuer, alone


def custody_section(wanted: tuple[str, ...], rounds: int, command: str) -> str:
    """Sign latency per custody (p50, p99, ratio to db), as a Markdown section body."""
    started = h.now_utc()
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        running = stack.enter_context(backends(workdir, wanted))
        via_issuer, alone = custody_fns(running, workdir, stack)
        per_round = {c: 200 if c == "db" else 20 for c in via_issuer}
        print(f"timing {len(via_issuer)} custodies, {rounds} rounds ...", file=sys.stderr)
        signs = time_calls(via_issuer, rounds=rounds, per_round=per_round)
        calls = time_calls(alone, rounds=rounds, per_round=per_round)
        notes = running.notes
    db50 = percentile(signs["db"], 0.5) if "db" in signs else None
    lines = [
        f"Command: `{command}`  ",
        f"Date: {started}; {rounds} interleaved rounds (200 calls of db, 20 of the others "
        "per round), each call timed on the wall clock.  ",
        f"Machine: {h.machine_note()}  ",
        "Versions: "
        + ", ".join(
            f"{k} {v}"
            for k, v in h.versions(["keywell", "cryptography", "boto3", "hvac", "moto"]).items()
        ),
        "",
        "ES256 key sets on a SQLite store. `ratio` is `db p50 / custody p50` (1.00x = as "
        "fast as db custody). `backend alone` is the custody's own sign call (for db: the "
        "`cryptography` primitive) without the Issuer. Every backend runs on this machine "
        "on loopback: a real HSM, Vault or AWS KMS adds its network round trip "
        "(KMS: typically milliseconds).",
        "",
        "| custody | backend | Issuer.sign p50 µs | p99 µs | ratio | backend alone p50 µs "
        "| p99 µs | samples |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for custody, values in signs.items():
        p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
        a50, a99 = percentile(calls[custody], 0.5), percentile(calls[custody], 0.99)
        ratio = f"{db50 / p50:.3f}x" if db50 else "n/a"
        lines.append(
            f"| {custody} | {notes[custody]} | {p50 / 1e3:,.1f} | {p99 / 1e3:,.1f} | {ratio} "
            f"| {a50 / 1e3:,.1f} | {a99 / 1e3:,.1f} | {len(values)} |"
        )
    return "\n".join(lines)


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
    parser.add_argument(
        "--custody",
        default=",".join(CUSTODIES),
        help=f"custodies for the latency table, comma-separated ({','.join(CUSTODIES)}); "
        "'' for none",
    )
    parser.add_argument("--custody-only", action="store_true", help="only the custody table")
    args = parser.parse_args(argv)
    rounds = args.rounds or (8 if args.quick else 40)
    command = ".venv/bin/python bench/issuer.py" + (" --quick" if args.quick else "")
    started = h.now_utc()
    warnings.simplefilter("error")
    if not args.custody_only:
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
    wanted = tuple(c for c in args.custody.split(",") if c)
    if wanted:
        custody_rounds = args.rounds or (5 if args.quick else 30)
        flags = " --custody-only" if args.custody_only else ""
        flags += f" --custody {','.join(wanted)}" if wanted != CUSTODIES else ""
        section = custody_section(wanted, custody_rounds, command + flags)
        print(section)
        if not args.quick:
            h.replace_section(
                RESULTS_MD, "issuer-custody", section, title="bench/issuer.py: sign per custody"
            )
            print(f"updated {RESULTS_MD}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
