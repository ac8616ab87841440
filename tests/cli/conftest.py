"""Shared helpers for the command-line tests."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from typer.testing import CliRunner, Result

from keywell.cli import output
from keywell.cli.app import app


@pytest.fixture(autouse=True)
def _plain_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every command as in a pipe, unless a test forces colour itself."""
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _fresh_warnings() -> None:
    """Each in-process invocation is a new "process" for the once-per-process warnings."""
    output._warned.clear()


def run(
    args: Sequence[str], *, stdin: str | None = None, env: dict[str, str] | None = None
) -> Result:
    """Invoke the keywell app in-process."""
    return CliRunner().invoke(app, list(args), input=stdin, env=env)
