"""Every ``keywell serve`` flag and SQLite URL the README shows exists and means what it says.

Issue 12 item 5: the README named ``--backlog``, ``--max-body-bytes`` and
``--auth-failure-limit/--auth-failure-window``, which ``keywell serve`` did
not have, and a relative SQLite URL for an absolute path.
"""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from keywell.cli.app import app

README = Path(__file__).resolve().parents[2] / "README.md"


def _serve_flags() -> set[str]:
    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    return set(re.findall(r"--[a-z][a-z-]+", result.stdout))


def test_every_serve_flag_the_readme_names_exists() -> None:
    text = README.read_text()
    named: set[str] = set()
    for line in re.findall(r"keywell serve[^\n]*(?:\\\n[^\n]*)*", text):
        named |= set(re.findall(r"(--[a-z][a-z-]+)", line))
    paragraph = text[text.index("**Slow and hostile clients.**") :].split("\n\n")[0]
    listed = set(re.findall(r"`(--[a-z][a-z-]+)`", paragraph))
    assert len(listed) == 7
    assert named | listed <= _serve_flags()
    settings = re.findall(r"`([a-z_]+)` \(", paragraph)
    assert {f"--{s.replace('_', '-')}" for s in settings} <= _serve_flags()


def test_the_readme_sqlite_urls_of_absolute_paths_have_four_slashes() -> None:
    urls = re.findall(r"sqlite:/{2,}[^\s`]+", README.read_text())
    assert urls
    for url in urls:
        path = url.removeprefix("sqlite:///")
        assert not path.startswith(("var/", "etc/", "srv/", "opt/", "home/")), url
