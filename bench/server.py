"""HTTP benchmark of the key server with wrk on loopback.

Measures, in one run and under each ASGI server (uvicorn with httptools+uvloop,
granian with uvloop):

* ``/.well-known/jwks.json`` answered 200 and 304 by keywell's app (fast path)
  against the same bytes and headers from a bare ASGI app (the framework limit);
* token minting (``POST /admin/v1/keysets/default/tokens``, bearer auth, JSON
  body, pydantic validation) against a bare ASGI app calling ``Issuer.sign``;
* nginx serving the same bytes as a static file (the machine limit);
* minting from an ES256 set in each custody (issue 14: ``pkcs11`` on SoftHSM2,
  ``transit`` on an OpenBao dev server, ``awskms`` on moto; every backend
  started on loopback by bench/_custody.py) against minting from ``db``.

Targets: JWKS >= 0.90x bare ASGI; minting >= 0.80x bare ``Issuer.sign``.
Results go between ``<!-- server:start -->`` and ``<!-- server:end -->`` in
bench/RESULTS.md.

Usage: .venv/bin/python bench/server.py [--duration 5] [--connections 32] [--custody pkcs11,...]
The ``*_app`` functions are the ASGI factories the servers import.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
MINT_BODY = '{"claims":{"sub":"bench","aud":"api"},"ttl":60}'


# -- the ASGI applications under test (imported by the servers) -----------------


def _issuer() -> Any:
    from keywell.issuer import Issuer

    return Issuer(os.environ["KW_BENCH_DB"])


def keywell_app() -> Any:
    from keywell.server import ServerConfig, create_app

    cfg = ServerConfig(database_url=os.environ["KW_BENCH_DB"], public_url="http://127.0.0.1")
    return create_app(_issuer(), cfg, close_issuer=True)


def bare_jwks_app() -> Any:
    """The same bytes and headers, no routing, no framework: the ASGI server's limit."""
    from keywell.server.published import build_entry

    issuer = _issuer()
    entry = build_entry(
        issuer.get_keyset("default"),
        issuer.jwks("default"),
        base_url="http://127.0.0.1",
        is_default=True,
    )
    issuer.close()
    doc = entry.jwks
    body, ok, nm, etag = doc.body, doc.ok_headers, doc.not_modified_headers, doc.etag

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        for k, v in scope["headers"]:
            if k == b"if-none-match" and v == etag:
                await send({"type": "http.response.start", "status": 304, "headers": nm})
                await send({"type": "http.response.body", "body": b""})
                return
        await send({"type": "http.response.start", "status": 200, "headers": ok})
        await send({"type": "http.response.body", "body": body})

    return app


def bare_sign_app() -> Any:
    """Read the body, call ``Issuer.sign`` inline, answer JSON: no auth, no validation."""
    issuer = _issuer()
    claims = json.loads(MINT_BODY)["claims"]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        token = issuer.sign("default", claims, ttl=60)
        body = json.dumps({"token": token, "token_type": "JWT"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


# -- orchestration -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} not ready")


def start(server: str, factory: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    py = sys.executable
    target = f"server:{factory}"
    if server == "uvicorn":
        cmd = [
            py,
            "-m",
            "uvicorn",
            target,
            "--factory",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
            "--port",
            str(port),
        ]
    else:
        granian = str(Path(py).with_name("granian"))
        cmd = [
            granian,
            "--interface",
            "asgi",
            "--factory",
            "--loop",
            "uvloop",
            "--workers",
            "1",
            "--no-ws",
            "--log-level",
            "warning",
            "--port",
            str(port),
            target,
        ]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT / "bench")  # noqa: S603 - fixed argv
    wait_ready(f"http://127.0.0.1:{port}/.well-known/jwks.json", proc)
    return proc, port


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def wrk(
    url: str,
    args: argparse.Namespace,
    *,
    headers: dict[str, str] | None = None,
    script: Path | None = None,
) -> dict[str, float]:
    cmd = ["wrk", "-t1", f"-c{args.connections}", f"-d{args.duration}s", "--latency"]
    for k, v in (headers or {}).items():
        cmd += ["-H", f"{k}: {v}"]
    if script is not None:
        cmd += ["-s", str(script)]
    out = subprocess.run(  # noqa: S603 - fixed argv
        [*cmd, url], capture_output=True, text=True, check=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p99_ms": float(p99.group(1)) * _UNITS[p99.group(2)] if p99 else float("nan"),
        "errors": float(non2xx.group(1)) if non2xx else 0.0,
    }


def median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run with the median requests/s (its p99 comes with it)."""
    ordered = sorted(runs, key=lambda r: r["rps"])
    return ordered[len(ordered) // 2]


def nginx_static(body: bytes, tmp: Path, args: argparse.Namespace) -> dict[str, float] | None:
    if shutil.which("nginx") is None:
        return None
    root = tmp / "www" / ".well-known"
    root.mkdir(parents=True)
    (root / "jwks.json").write_bytes(body)
    for p in (tmp, tmp / "www", root, root / "jwks.json"):  # nginx workers run as nobody
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"""worker_processes 1; daemon off; pid {tmp}/nginx.pid; error_log {tmp}/error.log;
events {{ worker_connections 1024; }}
http {{ access_log off; default_type application/json;
  client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp};
  uwsgi_temp_path {tmp}; scgi_temp_path {tmp};
  server {{ listen 127.0.0.1:{port}; root {tmp}/www; etag on; }} }}
"""
    )
    nginx = shutil.which("nginx") or "nginx"
    proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp)])  # noqa: S603
    try:
        wait_ready(f"http://127.0.0.1:{port}/.well-known/jwks.json", proc)  # type: ignore[arg-type]
        return wrk(f"http://127.0.0.1:{port}/.well-known/jwks.json", args)
    finally:
        stop(proc)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--servers", default="uvicorn,granian")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--custody-only", action="store_true", help="only the minting rows (db and custodies)"
    )
    parser.add_argument(
        "--custody",
        default="pkcs11,transit,awskms",
        help="custodies to mint from besides db (comma-separated; '' for none)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is required: apt-get install -y wrk nginx")
    sys.path.insert(0, str(ROOT / "bench"))
    from _custody import backends

    custodies = tuple(c for c in args.custody.split(",") if c and c != "db")
    tmp = Path(tempfile.mkdtemp(prefix="kw-bench-server-"))
    with backends(tmp / "custody", custodies) as running:
        run(args, tmp, running.uris, running.notes)


def run(args: argparse.Namespace, tmp: Path, uris: dict[str, str], notes: dict[str, str]) -> None:
    """Create the sets, start the servers, run wrk, write the report."""

    from keywell.issuer import Issuer
    from keywell.jose.base64url import b64url_encode
    from keywell.store.kek import KEKRing

    db = f"sqlite:///{tmp / 'bench.db'}"
    env = {**os.environ, "KW_BENCH_DB": db, "PYTHONPATH": str(ROOT / "bench")}
    env["KEYWELL_KEK"] = b64url_encode(secrets.token_bytes(32))
    issuer = Issuer(db, keks=KEKRing.from_env(env), auto_upgrade=True)
    issuer.create_keyset("default", issuer="https://issuer.bench")
    issuer.rotate("default", emergency=True)
    for custody, uri in uris.items():
        issuer.create_keyset(f"mint-{custody}", issuer="https://issuer.bench", custody=uri)
    secret = issuer.create_admin_token(["sign"], name="bench")
    published = issuer.jwks("default")
    nkeys = len(json.loads(published.body)["keys"])
    issuer.close()
    lua = tmp / "mint.lua"
    lua.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = '{MINT_BODY}'\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {secret}"\n'
    )
    inm = {"If-None-Match": published.etag}
    rows: dict[str, dict[str, dict[str, float]]] = {}
    for server in args.servers.split(","):
        procs: list[subprocess.Popen[bytes]] = []
        try:
            bases = {}
            for factory in ("keywell_app", "bare_jwks_app", "bare_sign_app"):
                proc, port = start(server, factory, env)
                procs.append(proc)
                bases[factory] = f"http://127.0.0.1:{port}"
            jwks_kw = bases["keywell_app"] + "/.well-known/jwks.json"
            jwks_bare = bases["bare_jwks_app"] + "/.well-known/jwks.json"
            mint_kw = bases["keywell_app"] + "/admin/v1/keysets/default/tokens"
            plan = {
                "keywell 200": (jwks_kw, {}, None),
                "bare 200": (jwks_bare, {}, None),
                "keywell 304": (jwks_kw, inm, None),
                "bare 304": (jwks_bare, inm, None),
                "keywell mint": (mint_kw, {}, lua),
                "bare sign": (bases["bare_sign_app"] + "/", {}, lua),
            }
            if args.custody_only:
                plan = {"keywell mint": plan["keywell mint"]}
            for custody in uris:
                url = bases["keywell_app"] + f"/admin/v1/keysets/mint-{custody}/tokens"
                plan[f"mint {custody}"] = (url, {}, lua)
            runs: dict[str, list[dict[str, float]]] = {k: [] for k in plan}
            for _ in range(args.rounds):  # interleaved: a load spike hits both sides
                for label, (url, hdrs, script) in plan.items():
                    runs[label].append(wrk(url, args, headers=hdrs, script=script))
            rows[server] = {k: median_run(v) for k, v in runs.items()}
        finally:
            for proc in procs:
                stop(proc)
    if not args.custody_only:
        static = nginx_static(published.body, tmp / "nginx", args)
        report = render(rows, static, nkeys, len(published.body), args)
        print(report)
        if not args.no_write:
            write_section(report)
    shutil.rmtree(tmp, ignore_errors=True)
    if uris:
        section = custody_table(rows, notes, args)
        print(section)
        if not args.no_write:
            from _harness import replace_section

            replace_section(
                RESULTS, "server-custody", section, title="bench/server.py: minting per custody"
            )


def render(
    rows: dict[str, dict[str, dict[str, float]]],
    static: dict[str, float] | None,
    nkeys: int,
    size: int,
    args: argparse.Namespace,
) -> str:
    sys.path.insert(0, str(ROOT / "bench"))
    from _harness import machine_note, now_utc

    lines = [
        f"Command: `.venv/bin/python bench/server.py --duration {args.duration} "
        f"--connections {args.connections} --rounds {args.rounds}`  ",
        f"Date: {now_utc()}; `wrk -t1 -c{args.connections} -d{args.duration}s` on loopback, "
        f"one server worker; JWKS of {nkeys} ES256 keys ({size} bytes); {args.rounds} "
        "interleaved rounds per endpoint, the median run shown.  ",
        f"Machine: {machine_note()}",
        "",
        "| server | endpoint | keywell req/s | bare ASGI req/s | ratio | target | keywell p99 ms "
        "| bare p99 ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for server, r in rows.items():
        for label, kw, bare, target in (
            ("JWKS 200", "keywell 200", "bare 200", 0.90),
            ("JWKS 304", "keywell 304", "bare 304", 0.90),
            ("mint (POST tokens)", "keywell mint", "bare sign", 0.80),
        ):
            ratio = r[kw]["rps"] / r[bare]["rps"]
            mark = "ok" if ratio >= target else "**below**"
            lines.append(
                f"| {server} | {label} | {r[kw]['rps']:,.0f} | {r[bare]['rps']:,.0f} | "
                f"{ratio:.2f}x | {target:.2f}x {mark} | {r[kw]['p99_ms']:.2f} | "
                f"{r[bare]['p99_ms']:.2f} |"
            )
    if static:
        lines.append(
            f"| nginx | static file 200 | n/a | n/a | n/a | limit | {static['rps']:,.0f} req/s "
            f"| p99 {static['p99_ms']:.2f} |"
        )
    lines.append(
        "\nIn-process cost of the app alone (no server): the fast path adds about 1.3 µs per "
        "JWKS request over the bare app. With a load average above the core count, wrk "
        "ratios swing by ±30% between runs; compare them from a quiet machine."
    )
    errors = {f"{s} {k}": v["errors"] for s, r in rows.items() for k, v in r.items() if v["errors"]}
    if errors:
        lines.append(f"\nNon-2xx/3xx responses: {errors}")
    return "\n".join(lines)


def custody_table(
    rows: dict[str, dict[str, dict[str, float]]], notes: dict[str, str], args: argparse.Namespace
) -> str:
    """Minting throughput per custody (issue 14), against minting from db custody."""
    from _harness import machine_note, now_utc

    flags = " --custody-only" if args.custody_only else ""
    lines = [
        f"Command: `.venv/bin/python bench/server.py --duration {args.duration} "
        f"--connections {args.connections} --rounds {args.rounds} --servers {args.servers} "
        f"--custody {args.custody}{flags}`  ",
        f"Date: {now_utc()}; `wrk -t1 -c{args.connections} -d{args.duration}s` on loopback, "
        f"one server worker; {args.rounds} interleaved rounds, the median run shown.  ",
        f"Machine: {machine_note()}",
        "",
        "Minting per custody (`POST /admin/v1/keysets/mint-<custody>/tokens`, ES256; "
        "`ratio` = custody req/s / db req/s; every backend on loopback, started by the "
        "bench; a remote HSM, Vault or AWS KMS adds its network round trip):",
        "",
        "| server | custody | backend | mint req/s | ratio to db | p99 ms |",
        "|---|---|---|---:|---:|---:|",
    ]
    for server, r in rows.items():
        db = r["keywell mint"]
        lines.append(
            f"| {server} | db | sealed in the store | {db['rps']:,.0f} | 1.00x "
            f"| {db['p99_ms']:.2f} |"
        )
        for custody, note in notes.items():
            got = r[f"mint {custody}"]
            lines.append(
                f"| {server} | {custody} | {note} | {got['rps']:,.0f} | "
                f"{got['rps'] / db['rps']:.3f}x | {got['p99_ms']:.2f} |"
            )
    errors = {
        f"{server} {label}": v["errors"]
        for server, r in rows.items()
        for label, v in r.items()
        if label.startswith(("mint ", "keywell mint")) and v["errors"]
    }
    if errors:
        lines.append(f"\nNon-2xx/3xx responses: {errors}")
    return "\n".join(lines)


def write_section(body: str) -> None:
    start, end = "<!-- server:start -->", "<!-- server:end -->"
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    block = f"{start}\n{body}\n{end}"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        _, after = rest.split(end, 1)
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n## bench/server.py\n\n" + block + "\n"
    RESULTS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
