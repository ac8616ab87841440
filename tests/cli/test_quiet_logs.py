"""Library log records never reach the terminal raw from a ``keywell`` command (issue 12 item 7).

Each remote failure below printed ``JWKS fetch from ... failed ...`` (Python's
last-resort handler) before the command's own ``error:`` line. Real
subprocesses against a loopback port nobody listens on; stderr must be the
command's own lines only.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from keywell import JWK, jwt

BIN = Path(sys.executable).parent


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    "command",
    [
        ["token", "verify", "{token}", "--jwks", "{url}/jwks.json", "--no-issuer", "--no-audience"],
        ["token", "verify", "{token}", "--issuer", "{url}", "--no-audience"],
        ["jwks", "fetch", "{url}/jwks.json"],
        ["jwks", "lint", "{url}/jwks.json"],
    ],
)
def test_a_remote_failure_prints_only_the_commands_own_lines(command: list[str]) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    key = JWK.generate("ES256", kid="k")
    token = jwt.encode({"iss": url, "sub": "a", "exp": 2_000_000_000}, key)
    argv = [c.replace("{url}", url).replace("{token}", token) for c in command]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYWELL_")}
    done = subprocess.run(
        [str(BIN / "keywell"), *argv], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode in (1, 2), done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines or "fetch-failed" in done.stdout, done.stdout
    assert all(line.startswith(("error:", "warning:", "  ")) for line in lines), done.stderr
    assert "JWKS fetch from" not in done.stderr
