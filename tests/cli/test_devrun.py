"""``make run`` (``python -m keywell.server.devrun``) as a real process, followed literally.

The printed issuer and discovery URL must round-trip through
``RemoteJWKSet.from_issuer``; the printed ``curl`` + ``keywell token verify``
lines, run by a shell exactly as printed, must verify; ``--port`` and
``KEYWELL_PORT`` choose the port; the admin token lasts 24 hours and a second
run names the earlier one and how to revoke it.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from keywell.client import RemoteJWKSet
from keywell.client.discovery import metadata_urls

if TYPE_CHECKING:
    from keywell.issuer import Issuer

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Run:
    out: str
    err: str

    def field(self, label: str) -> str:
        found = re.search(rf"^  {label}:\s+(\S+)$", self.out, re.M)
        assert found, f"{label} not printed:\n{self.out}"
        return found.group(1)

    @property
    def snippet(self) -> str:
        lines = self.out.splitlines()
        at = lines.index("  mint a token and verify it:")
        return "\n".join(line.strip() for line in lines[at + 1 : at + 5])


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEYWELL_", "FORCE_COLOR"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return {**env, "KEYWELL_DEV_DB": str(tmp / "keywell.db"), **extra}


@contextmanager
def devrun(tmp: Path, args: list[str], env: dict[str, str]) -> Iterator[Run]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "keywell.server.devrun", *args],
        cwd=tmp,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    out: list[str] = []
    run = Run("", "")
    try:
        deadline = time.monotonic() + 60
        while not any("keywell token verify" in line for line in out):
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, "devrun ended early"
            out.append(line)
        run.out = "".join(out)
        base = run.field("JWKS").removesuffix("/.well-known/jwks.json")
        while True:  # bounded: ready, or the deadline fails the test
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, "devrun exited"
            assert time.monotonic() < deadline, "devrun never became ready"
            time.sleep(0.1)
        yield run
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        run.err = err or ""


def test_make_run_followed_literally(tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with devrun(tmp_path, ["--port", str(port), "--server", "uvicorn"], _env(tmp_path)) as run:
        issuer = run.field("issuer")
        discovery = run.field("discovery")
        assert issuer == base
        assert discovery == str(metadata_urls(issuer, allow_http=True)[0])
        assert httpx.get(discovery).json()["issuer"] == issuer  # the document names it
        with RemoteJWKSet.from_issuer(issuer) as remote:  # the round trip itself
            assert len(remote.jwks()) == 2  # the active key and its published successor
            assert remote.url == f"{base}/.well-known/jwks.json"  # discovered on first use
        shell = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", run.snippet],
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert shell.returncode == 0, shell.stderr + shell.stdout
        assert shell.stdout.startswith("VERIFIED: signature")
        console = re.search(
            r"^  console:\s+(\S+)  \(log in with the admin token below\)$", run.out, re.M
        )
        assert console, run.out
        assert console.group(1) == f"{base}/console"
        secret = re.search(r"kwa_[A-Za-z0-9_-]+", run.out)
        assert secret, run.out
        with httpx.Client(base_url=base, headers={"Origin": base}) as browser:
            login = browser.post("/console/login", data={"token": secret.group(0)})
            assert login.status_code == 303, login.text
            assert 'data-keyset="default"' in browser.get("/console/keysets").text
        assert '"aud": "keywell-dev"' in shell.stdout
        first = re.search(r"admin token #(\d+) \(make-run, all scopes, valid 1d until ", run.out)
        assert first, run.out
    assert run.err.count("DEVELOPMENT KEK") == 1
    assert "Warning" not in run.err
    assert "list admin tokens: keywell admin-token list --database sqlite:///" in run.out

    env = _env(tmp_path, KEYWELL_PORT=str(port))  # the port from the environment this time
    with devrun(tmp_path, ["--server", "uvicorn"], env) as again:
        assert again.field("issuer") == base
        assert f"earlier make-run tokens still valid: {first.group(1)}; revoke them" in again.out
        revoke = re.search(r"^    (keywell admin-token revoke .*)$", again.out, re.M)
        assert revoke, again.out
        done = subprocess.run(
            ["bash", "-c", revoke.group(1) + " --json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert (done.returncode, done.stdout.strip()) == (0, '{\n  "revoked": 1\n}'), done.stderr


def test_granian_honours_keywell_port_and_the_port_option_wins(tmp_path: Path) -> None:
    port, other = _free_port(), _free_port()
    env = _env(tmp_path, KEYWELL_PORT=str(other))
    with devrun(tmp_path, ["--port", str(port)], env) as run:
        assert run.field("issuer") == f"http://127.0.0.1:{port}"
        assert httpx.get(run.field("discovery")).status_code == 200
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{other}/readyz", timeout=2)


@contextmanager
def _dev_issuer(db: Path) -> Iterator[Issuer]:
    """The development database's Issuer, under devrun's KEK file (its warning expected)."""
    import warnings

    from keywell.issuer import Issuer
    from keywell.store.kek import DevelopmentKEKWarning, KEKRing

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DevelopmentKEKWarning)
        keks = KEKRing.development(Path(f"{db}.kek"))
    issuer = Issuer(f"sqlite:///{db}", keks=keks, auto_upgrade=True)
    try:
        yield issuer
    finally:
        issuer.close()


@pytest.mark.parametrize(
    ("args", "extra", "message"),
    [
        (["--port", "{busy}"], {}, "error: address 127.0.0.1:{busy} is already in use"),
        ([], {"KEYWELL_PORT": "{busy}"}, "error: address 127.0.0.1:{busy} is already in use"),
        ([], {"KEYWELL_PORT": "abc"}, "error: KEYWELL_PORT must be a port number"),
        ([], {"KEYWELL_PORT": "-1"}, "error: KEYWELL_PORT must be a port number"),
        ([], {"KEYWELL_PORT": "70000"}, "error: KEYWELL_PORT must be a port number"),
        ([], {"KEYWELL_PORT": "８０"}, "error: KEYWELL_PORT must be a port number"),
        (["--port", "x1"], {}, "error: --port must be a port number"),
        (["--port", "1.5"], {}, "error: --port must be a port number"),
    ],
)
def test_a_bad_or_busy_address_is_one_line_exit_2_before_any_write(
    tmp_path: Path, args: list[str], extra: dict[str, str], message: str
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        argv = [a.replace("{busy}", port) for a in args]
        env = _env(tmp_path, **{k: v.replace("{busy}", port) for k, v in extra.items()})
        done = subprocess.run(
            [sys.executable, "-m", "keywell.server.devrun", *argv],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(message.replace("{busy}", port)), done.stderr
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
    assert done.stdout == ""  # no token printed
    assert list(tmp_path.iterdir()) == []  # no database, KEK or token written


def test_the_dev_issuer_follows_the_address_bound(tmp_path: Path) -> None:
    """Two runs on two ports against one database, then port 0: every URL is the live one."""
    first, second = _free_port(), _free_port()
    env = _env(tmp_path)
    with devrun(tmp_path, ["--port", str(first), "--server", "uvicorn"], env) as run:
        assert run.field("issuer") == f"http://127.0.0.1:{first}"
    with devrun(tmp_path, ["--port", str(second), "--server", "uvicorn"], env) as run:
        issuer = run.field("issuer")
        assert issuer == f"http://127.0.0.1:{second}"
        assert "warning" not in run.out
        with RemoteJWKSet.from_issuer(issuer) as remote:
            assert len(remote.jwks()) == 2
            assert remote.url == f"{issuer}/.well-known/jwks.json"
    with devrun(tmp_path, ["--port", "0", "--server", "uvicorn"], env) as run:
        issuer = run.field("issuer")
        assert re.fullmatch(r"http://127\.0\.0\.1:[1-9]\d*", issuer), issuer
        assert ":0/" not in run.out
        assert not run.out.count(":0\n")
        assert httpx.get(run.field("discovery")).json()["issuer"] == issuer
    with _dev_issuer(tmp_path / "keywell.db") as check:
        moves = [e for e in check.history("default") if e.action == "update_issuer"]
        assert [e.actor for e in moves] == ["devrun", "devrun"]
        assert f"from http://127.0.0.1:{first} to http://127.0.0.1:{second}" in (
            moves[-1].reason or ""
        )
        assert check.get_keyset("default").issuer == issuer


def test_an_issuer_devrun_did_not_make_is_kept_with_a_warning(tmp_path: Path) -> None:
    with _dev_issuer(tmp_path / "keywell.db") as mine:
        mine.create_keyset("default", issuer="https://id.example", actor="ops")
    with devrun(
        tmp_path, ["--port", str(_free_port()), "--server", "uvicorn"], _env(tmp_path)
    ) as run:
        assert run.field("issuer") == "https://id.example"
    assert "warning: the 'default' key set's issuer is https://id.example" in run.err
