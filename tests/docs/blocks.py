"""Fenced code blocks of the documentation pages, and how each one is run.

A page's consecutive ```python blocks run in order in one namespace, in one
fresh Python process (``-W error``); its ```sh blocks run with ``bash -euo
pipefail`` in the same working directory, with the project's ``keywell`` on
PATH. Blocks in any other language (text, toml, json, ...) are shown output or
configuration and are not run. Two markers, an HTML comment on the line before
a block or at the top of a page, change that:

- ``<!-- not-run: make -->`` before a ``sh`` block whose every command is a
  ``make`` target (``make run``, ``make test``: what CI itself runs);
- ``<!-- docs-test: server -->`` at the top of a page: a real ``keywell serve``
  runs on a free port for the page; ``127.0.0.1:8080`` in its blocks is
  rewritten to that port, and ``KEYWELL_TOKEN`` holds an all-scope admin token;
- ``<!-- docs-test: postgres -->`` at the top of a page: ``KEYWELL_DATABASE_URL``
  names a fresh database on the PostgreSQL server at 127.0.0.1:5432, dropped after.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"
RUN = {"python", "sh"}
SHOWN = {"text", "toml", "json", "yaml", "ini", "http", "console", "hcl"}
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w-]*)[^\n]*$")
NOT_RUN = "<!-- not-run: make -->"
SERVER = "<!-- docs-test: server -->"
POSTGRES = "<!-- docs-test: postgres -->"


@dataclass(frozen=True)
class Block:
    """One fenced block: page, 1-based line of its opening fence, language, code, marker."""

    page: Path
    line: int
    lang: str
    code: str
    not_run: bool


def pages() -> list[Path]:
    """Every Markdown page of the site, sorted."""
    return sorted(DOCS.rglob("*.md"))


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of ``page`` in order (indented ones too, e.g. inside admonitions)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent = len(match["indent"])
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i][indent:])
            i += 1
        marker = start > 0 and lines[start - 1].strip() == NOT_RUN
        code = "\n".join(body) + "\n"
        found.append(Block(page, start + 1, match["lang"], code, marker))
        i += 1
    return found


def needs_server(page: Path) -> bool:
    """Whether the page asks for a running key server."""
    return SERVER in page.read_text(encoding="utf-8")


def needs_postgres(page: Path) -> bool:
    """Whether the page asks for a PostgreSQL database."""
    return POSTGRES in page.read_text(encoding="utf-8")
