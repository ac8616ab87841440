"""The root of ``keywell``: version, help with examples, completion, colour, exit codes."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from keywell import __version__
from keywell.cli.app import app
from tests.cli.conftest import run

LINT_FIXTURES = Path(__file__).resolve().parent.parent / "lint" / "fixtures"
COMMANDS = [
    [],
    ["serve"],
    ["admin-token"],
    ["admin-token", "create"],
    ["admin-token", "list"],
    ["admin-token", "revoke"],
    ["jwk"],
    ["jwk", "generate"],
    ["jwk", "convert"],
    ["jwk", "thumbprint"],
    ["jwk", "public"],
    ["token"],
    ["token", "decode"],
    ["token", "sign"],
    ["token", "verify"],
    ["jwks"],
    ["jwks", "lint"],
    ["jwks", "fetch"],
    ["keyset"],
    ["keyset", "create"],
    ["keyset", "list"],
    ["keyset", "show"],
    ["keyset", "rotate"],
    ["keyset", "revoke"],
    ["keyset", "policy"],
    ["keyset", "custody"],
    ["kek"],
    ["kek", "rotate"],
    ["kek", "generate"],
    ["db"],
    ["db", "upgrade"],
]
LEAF_COMMANDS = [c for c in COMMANDS if len(c) == 2]


def test_version() -> None:
    result = run(["--version"])
    assert (result.exit_code, result.stdout) == (0, f"keywell {__version__}\n")
    assert __version__ == importlib.metadata.version("keywell")  # the installed distribution


def _leaves(group: Any, path: list[str]) -> list[list[str]]:
    found = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group (typer vendors its own click)
            found += _leaves(command, [*path, name])
        else:
            found.append([*path, name])
    return found


def test_every_command_is_in_the_help_table() -> None:
    every = _leaves(typer.main.get_command(app), [])
    assert sorted(every) == sorted([*LEAF_COMMANDS, ["serve"]])


# The kind: help that speaks two dialects. Every command but `serve` (owned with the
# server's runner) shows metavars, never Python types; env vars as [env var: ...];
# a help line for every option.
_TYPE_HINT = re.compile(r"<(str|int|float|bool|path|file|list\[[a-z]+\]|[a-z]+ range)>")


@pytest.mark.parametrize("command", [c for c in LEAF_COMMANDS if c != ["serve"]], ids=" ".join)
def test_help_speaks_one_dialect(command: list[str]) -> None:
    text = run([*command, "--help"]).stdout
    assert not _TYPE_HINT.search(text), text
    assert "(env KEYWELL" not in text
    options = re.findall(r"^  (--[a-z-]+)(?: [A-Z|.]+)?(.*)$", text, re.M)
    for flag, rest in options:
        assert re.sub(r"\[[^\]]*\]?", "", rest).strip(), f"{flag} has no help"
    for var in re.findall(r"KEYWELL_[A-Z_]+", text):
        assert f"[env var: {var}]" in text.replace("\n", " ") or "Examples" in text


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "root")
def test_help_everywhere(command: list[str]) -> None:
    result = run([*command, "--help"])
    assert result.exit_code == 0
    assert f"Usage: keywell {' '.join(command)}".rstrip() in result.stdout
    if len(command) != 1:  # the root and every command carry worked examples
        assert re.search(r"Examples:\n\s+(keywell|echo \$TOKEN \| keywell) ", result.stdout)


@pytest.mark.parametrize("command", LEAF_COMMANDS, ids=" ".join)
def test_every_command_takes_json(command: list[str]) -> None:
    assert "--json" in run([*command, "--help"]).stdout


def test_no_arguments_shows_help() -> None:
    result = run([])
    assert "Commands:" in result.output
    assert re.search(r"jwk\s+Generate", result.output)


@pytest.mark.parametrize("args", [["nope"], ["jwk", "generate", "--bogus"], ["jwks", "lint"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    assert run(args).exit_code == 2


def test_shell_completion_script() -> None:
    # A real process asked through Click's variable: ``--show-completion`` depends on
    # shellingham detecting a parent shell, which a CI runner may not have.
    result = subprocess.run(
        [sys.executable, "-m", "keywell"],
        env={**os.environ, "_KEYWELL_COMPLETE": "source_bash"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "_KEYWELL_COMPLETE=complete_bash" in result.stdout


def test_colour_in_a_terminal_plain_in_a_pipe() -> None:
    path = str(LINT_FIXTURES / "weak-rsa.json")
    plain = run(["jwks", "lint", path])
    assert "\x1b[" not in plain.stdout
    coloured = run(["jwks", "lint", path], env={"FORCE_COLOR": "1"})
    assert "\x1b[1;31mHIGH" in coloured.stdout
    no_colour = run(["jwks", "lint", path], env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert "\x1b[1;31m" not in no_colour.stdout
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured.stdout) == plain.stdout


def test_jwks_lint_stdin_and_missing_file() -> None:
    text = (LINT_FIXTURES / "missing-kid.json").read_text()
    result = run(["jwks", "lint", "-", "--json"], stdin=text)
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert (report["source"], [f["code"] for f in report["findings"]]) == ("stdin", ["missing-kid"])
    missing = run(["jwks", "lint", "/nonexistent/jwks.json", "--json"])
    assert missing.exit_code == 2
    assert json.loads(missing.stdout)["error"]["code"] == "file"
