"""Issue 11, area 5: the SQLite database, its -wal and -shm files and the development KEK
file are created 0600, even by a process running with umask 000.

Each case runs in a child process that sets ``umask(0)`` first, so the test
process's own umask plays no part; the child writes through a real Issuer
(keys sealed into WAL pages) and holds the database open while the parent
reads the modes of every file beside it.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from keywell.jose.base64url import b64url_encode

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import os, sys, warnings
os.umask(0)
from keywell.issuer import Issuer
from keywell.store.kek import DevelopmentKEKWarning
warnings.simplefilter("ignore", DevelopmentKEKWarning)
issuer = Issuer("sqlite:///" + sys.argv[1], auto_upgrade=True)
issuer.create_keyset("main", issuer="https://issuer.test")
issuer.sign("main", {})
print("written", flush=True)
sys.stdin.readline()  # the parent reads the modes while the WAL and SHM exist
issuer.close()
"""


@pytest.mark.parametrize("kek", ["development", "environment"])
def test_files_are_private_under_umask_000(tmp_path: Path, kek: str) -> None:
    db = tmp_path / "keywell.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYWELL_KEK")}
    if kek == "environment":
        env["KEYWELL_KEK"] = b64url_encode(os.urandom(32))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "written"
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    finally:
        child.communicate("\n", timeout=60)
    expected = {"keywell.db", "keywell.db-wal", "keywell.db-shm"}
    if kek == "development":
        expected.add("keywell.db.kek")
    assert set(modes) == expected
    assert modes == dict.fromkeys(expected, 0o600)
    assert child.returncode == 0


def test_a_umask_000_control_really_creates_world_readable_files(tmp_path: Path) -> None:
    """The child's umask is 000: a file created without keywell's care gets 0666."""
    probe = tmp_path / "probe"
    subprocess.run(
        [sys.executable, "-c", f"import os; os.umask(0); open({str(probe)!r}, 'w').close()"],
        check=True,
    )
    assert stat.S_IMODE(probe.stat().st_mode) == 0o666
