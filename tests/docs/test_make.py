"""`make run` installs keywell[server,cli,client] only: the dev server must need nothing more."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.docs.blocks import DOCS

ROOT = DOCS.parent

# Top-level modules of packages that `make run` does not install (dev, docs, postgres extras).
NOT_INSTALLED_BY_RUN = [
    "authlib",
    "django",
    "flask",
    "hypothesis",
    "jose",
    "joserfc",
    "jwcrypto",
    "jwt",
    "matplotlib",
    "mkdocs",
    "mypy",
    "psycopg",
    "pytest",
    "schemathesis",
]

PROBE = """
import importlib.abc, sys
BLOCKED = set(sys.argv[1].split(","))
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"{name} is not installed by make run")
        return None
sys.meta_path.insert(0, Block())
import keywell.server.devrun, keywell.server.runner, keywell.server.app, keywell.issuer
import keywell.cli.app, keywell.client  # every command module; token verify's remote fetch
print("ok")
"""


def test_run_target_installs_only_the_run_extras() -> None:
    """The Makefile's run stamp installs `.[server,cli,client]`, the test stamp `.[all,dev]`."""
    makefile = (ROOT / "Makefile").read_text()
    run_rule = makefile.split("$(RUN_STAMP): pyproject.toml", 1)[1].split("\n\n", 1)[0]
    test_rule = makefile.split("$(TEST_STAMP): pyproject.toml", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"pip install --quiet -e '\.\[server,cli,client\]'", run_rule)
    assert re.search(r"pip install --quiet -e '\.\[all,dev\]'", test_rule)
    assert re.search(r"^run: \$\(RUN_STAMP\)$", makefile, re.M)
    assert re.search(r"^test: lint typecheck docs pytest$", makefile, re.M)


def test_dev_server_and_cli_import_without_the_other_extras() -> None:
    """devrun, the server, the CLI and the client import with every non-run package hidden."""
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", PROBE, ",".join(NOT_INSTALLED_BY_RUN)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
