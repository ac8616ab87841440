"""Generated reference pages: the CLI (from the Typer app) and the error codes.

Both pages are written at build time from the code itself, so they cannot go
stale: a page holding the marker ``<!-- generated: cli -->`` or
``<!-- generated: errors -->`` gets the marker replaced by the Markdown that
:func:`cli_reference` or :func:`error_reference` returns. ``mkdocs.yml`` loads
this file as a hook; ``tests/docs`` calls the same functions.
"""

from __future__ import annotations

import inspect
from typing import Any

MARKERS = {
    "<!-- generated: cli -->": "cli_reference",
    "<!-- generated: errors -->": "error_reference",
}


# Typer ships its own copy of click, so commands and contexts are duck-typed
# (click's public Command/Context API) rather than checked against `click`.
Command = Any
Context = Any


def _walk(command: Command, path: list[str], parent: Context | None) -> list[tuple[Any, ...]]:
    ctx = command.context_class(command, info_name=path[-1], parent=parent)
    found: list[tuple[Any, ...]] = [(path, command, ctx)]
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                found += _walk(sub, [*path, name], ctx)
    return found


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _paragraphs(text: str) -> list[str]:
    lines = []
    for block in inspect.cleandoc(text).split("\n\n"):
        if block.startswith("\b"):  # click's "keep this paragraph as it is"
            lines += ["```text", inspect.cleandoc(block.lstrip("\b").strip("\n")), "```", ""]
        elif block.strip():
            lines += [" ".join(block.split()).replace("``", "`"), ""]
    return lines


def _section(path: list[str], command: Command, ctx: Context) -> str:
    title = " ".join(path)
    usage = " ".join(command.collect_usage_pieces(ctx))
    lines = [f"{'#' * min(len(path) + 1, 4)} `{title}`", ""]
    lines += ["```text", f"Usage: {title} {usage}".rstrip(), "```", ""]
    lines += _paragraphs(command.help or command.short_help or "")
    rows = []
    for param in command.get_params(ctx):
        if getattr(param, "hidden", False):
            continue
        if param.param_type_name == "argument":
            name = f"`{(param.metavar or param.name or '').upper()}`"
            about = getattr(param, "help", None) or ""
        else:
            record = param.get_help_record(ctx)
            if record is None:
                continue
            name = f"`{record[0]}`"
            about = record[1]
        rows.append(f"| {_cell(name)} | {_cell(about)} |")
    if rows:
        lines += ["| Argument or option | Meaning |", "|---|---|", *rows, ""]
    lines += _paragraphs(command.epilog or "")
    return "\n".join(lines)


def cli_reference() -> str:
    """Markdown for every ``keywell`` command, from the Typer app (nothing hand-written)."""
    import typer.main

    from keywell.cli.app import app

    root = typer.main.get_command(app)
    sections = [_section(path, cmd, ctx) for path, cmd, ctx in _walk(root, ["keywell"], None)]
    return "\n".join(sections)


def _tree(cls: type[Any], depth: int, rows: list[str]) -> None:
    doc = inspect.getdoc(cls) or ""
    summary = " ".join(doc.split("\n\n")[0].split()).replace("``", "`")
    indent = "&nbsp;&nbsp;&nbsp;&nbsp;" * depth
    rows.append(f"| {indent}`{cls.__name__}` | `{cls.code}` | {_cell(summary)} |")
    for sub in sorted(cls.__subclasses__(), key=lambda c: c.__name__):
        if sub.__module__ == cls.__module__:
            _tree(sub, depth + 1, rows)


def error_reference() -> str:
    """Markdown for the error tree in :mod:`keywell.errors`: class, stable code, meaning."""
    from keywell.errors import KeywellError

    rows: list[str] = []
    _tree(KeywellError, 0, rows)
    return "\n".join(["| Class | Code | Raised when |", "|---|---|---|", *rows, ""])


def render(markdown: str) -> str:
    """Replace every generation marker in ``markdown`` with its generated text."""
    for marker, name in MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, globals()[name]())
    return markdown


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """MkDocs hook: fill the generated sections of a page at build time."""
    return render(markdown)
