"""The site: generated reference pages cover the whole CLI and error tree, and it builds strict."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import typer.main

from keywell import errors
from keywell.cli.app import app
from tests.docs.blocks import DOCS

ROOT = DOCS.parent


def _hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_reference", DOCS / "hooks" / "reference.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _commands(command: object, path: str) -> list[str]:
    found = [path]
    ctx = command.context_class(command, info_name=path.split()[-1])  # type: ignore[attr-defined]
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if not sub.hidden:
                found += _commands(sub, f"{path} {name}")
    return found


def test_cli_reference_documents_every_command_and_option() -> None:
    """Each command gets a heading; each of its visible options appears in its section."""
    text = _hook().cli_reference()
    root = typer.main.get_command(app)
    commands = _commands(root, "keywell")
    assert len(commands) > 20
    for path in commands:
        assert f"`{path}`\n" in text, path
    verify = text.split("`keywell token verify`\n", 1)[1].split("\n#", 1)[0]
    assert "--audience" in verify
    assert "--jwks" in verify


def test_error_reference_lists_every_class_with_its_code() -> None:
    """The error page names every public error class under KeywellError, with its code."""
    text = _hook().error_reference()
    classes = [getattr(errors, n) for n in errors.__all__]
    classes = [c for c in classes if isinstance(c, type) and issubclass(c, errors.KeywellError)]
    assert len(classes) >= 23
    for cls in classes:
        assert f"`{cls.__name__}` | `{cls.code}` |" in text, cls.__name__


def test_pages_hold_the_generation_markers() -> None:
    """The CLI and error pages are filled at build time, so they cannot go stale."""
    hook = _hook()
    assert "<!-- generated: cli -->" in (DOCS / "cli.md").read_text()
    assert "<!-- generated: errors -->" in (DOCS / "errors.md").read_text()
    assert "<!--" not in hook.render((DOCS / "errors.md").read_text())


def test_site_builds_strict(tmp_path: Path) -> None:
    """`mkdocs build --strict` (what `make docs` runs): a broken link or warning fails."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    cli = (tmp_path / "cli" / "index.html").read_text()
    assert "keywell token verify" in cli
    assert "KW_TOKEN_EXPIRED" in (tmp_path / "errors" / "index.html").read_text()
    assert (tmp_path / "design" / "index.html").exists()
