"""Rendering for the ``keywell`` command: rich in a terminal, plain in a pipe, JSON on request.

``rich`` is imported on first use, not with the app, so ``keywell --help``
starts fast. Rich already drops colour when output is not a terminal and
honours ``NO_COLOR``; lines are never wrapped (``soft_wrap``) so piped output
stays one record per line. Errors go to stderr as ``error: ...``, or with
``--json`` to stdout as ``{"error": {"code": ..., "message": ...}}``; they are
built from keywell's messages, which never carry key material.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from keywell.lint import Report

__all__ = [
    "EXIT_FAILED",
    "EXIT_NOT_DONE",
    "EXIT_OK",
    "EXIT_USAGE",
    "JsonOpt",
    "console",
    "die",
    "emit_json",
    "escape",
    "escape_json",
    "examples",
    "plain_argument_help",
    "printable",
    "quiet_library_logs",
    "render_report",
    "route_warnings",
    "warn",
    "weak_rsa_noted",
]

#: The ``--json`` switch every command takes.
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]

EXIT_OK = 0
#: A verification or lint failure.
EXIT_FAILED = 1
#: A usage error: bad options, or an input that is not what the command needs.
EXIT_USAGE = 2
#: A valid request that changed nothing yet: ``keyset rotate`` before the pending
#: key has been published for ``prepublish`` (the output says when it can).
EXIT_NOT_DONE = 3

_warned: set[str] = set()

_STYLES = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "info": "cyan",
}


def examples(*lines: str) -> str:
    """A help epilog of worked examples, kept verbatim (Click's no-rewrap marker)."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


def console(*, stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr) that never wraps lines."""
    from rich.console import Console

    return Console(stderr=stderr, soft_wrap=True, highlight=False)


def printable(text: str) -> str:
    r"""``text`` with every non-printable character shown as a Python escape (``\x1b``).

    Control characters (C0, DEL, C1: newline, ESC, NUL), bidirectional
    overrides and other format characters, separators other than the space,
    and lone surrogates: anything ``str.isprintable`` refuses. A name read
    from a store or a server can so never move the cursor, clear the screen,
    fake a line of output or reorder what follows it.
    """
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode("ascii")
        for c in text
    )


def escape(text: str) -> str:
    """Text that came from input, safe for a terminal: :func:`printable`, rich markup escaped.

    Every human-readable output of the CLI passes input-derived text through
    here (JSON output escapes by its own rules).
    """
    from rich.markup import escape as rich_escape

    return rich_escape(printable(text))


def escape_json(data: Any) -> str:
    r"""``data`` as indented JSON for a terminal: one :func:`escape` per line.

    The indentation's newlines stay line breaks (escaping the whole text would
    show them as ``\n`` on one line); anything unprintable inside a value,
    which ``json.dumps(..., ensure_ascii=False)`` leaves raw (C1 controls,
    bidirectional overrides, ``U+2028``), is still shown as an escape.
    """
    text = json.dumps(data, indent=2, ensure_ascii=False)
    return "\n".join(escape(line) for line in text.split("\n"))


def emit_json(data: Any) -> None:
    """Write ``data`` as indented JSON and a newline to stdout."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def die(
    message: str,
    *,
    json_mode: bool,
    code: str = "usage",
    exit_code: int = EXIT_USAGE,
) -> NoReturn:
    """Report an error and exit with ``exit_code`` (2, a usage error, unless told)."""
    if json_mode:
        emit_json({"error": {"code": code, "message": message}})
    else:
        console(stderr=True).print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(exit_code)


def plain_argument_help() -> None:
    """Show an argument in help by its metavar alone (``NAME``), as Click shows options.

    Typer 0.29 appends the Python type to every argument (``NAME <str>``),
    even one with a metavar, where options print their metavar only; this
    makes the two agree for every command of this process's CLI.
    """
    from typer.core import TyperArgument

    original = TyperArgument.display_type_rich
    if getattr(original, "__keywell__", False):
        return

    def display(self: TyperArgument, ctx: Any) -> str | None:
        return None if self.metavar is not None else original(self, ctx)

    display.__keywell__ = True  # type: ignore[attr-defined]
    TyperArgument.display_type_rich = display  # type: ignore[method-assign,assignment]


def warn(message: str) -> None:
    """Print ``warning: message`` to stderr, once per process for each distinct message."""
    if message in _warned:
        return
    _warned.add(message)
    console(stderr=True).print(f"[yellow]warning:[/] {escape(message)}")


@contextmanager
def weak_rsa_noted() -> Iterator[list[str]]:
    """Collect the weak-RSA warnings of an ``--allow-weak-rsa`` command, once each, in words.

    The list fills when the block ends; the caller prints its messages as
    notes (or reports them in its JSON) instead of Python's warning lines.
    Other warnings raised in the block are passed on unchanged.
    """
    import warnings

    from keywell.jose.jwk import WeakKeyWarning

    noted: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", WeakKeyWarning)
        try:
            yield noted
        finally:
            noted.extend(
                dict.fromkeys(str(w.message) for w in caught if w.category is WeakKeyWarning)
            )
    for w in caught:
        if w.category is not WeakKeyWarning:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def quiet_library_logs() -> None:
    """Keep keywell's library log records off the terminal (once per process).

    A command reports what went wrong itself, as one ``error:``/``warning:``
    line; the library's records (``JWKS fetch from ... failed``) would reach
    stderr raw through Python's last-resort handler, before that line. A
    :class:`logging.NullHandler` on the ``keywell`` logger stops that, while
    records still propagate to any handler configured above it (``keywell
    serve`` configures its own logging; pytest's capture still sees them).

    The one exception is what an operator must act on whatever the command:
    warnings of ``keywell.kek`` (a configured KEK the store does not know,
    a KEK file readable by others) are shown through :func:`warn`, in words.
    """
    import logging

    logger = logging.getLogger("keywell")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())
    kek = logging.getLogger("keywell.kek")
    if not any(isinstance(h, _WarnHandler) for h in kek.handlers):
        kek.addHandler(_WarnHandler(logging.WARNING))


class _WarnHandler(logging.Handler):
    """Shows a log record as one ``warning:`` line (:func:`warn`)."""

    def emit(self, record: logging.LogRecord) -> None:
        warn(record.getMessage())


def route_warnings() -> None:
    """Show keywell's own Python warnings (the development KEK's) through :func:`warn`.

    In words, once per process, without the source path and line that
    :func:`warnings.showwarning` adds; warnings of other packages keep
    Python's format. Filters still apply (``-W error`` still raises).
    """
    import warnings

    previous = warnings.showwarning
    if getattr(previous, "__keywell__", False):
        return

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        if category.__module__.startswith("keywell."):
            warn(str(message))
        else:
            previous(message, category, filename, lineno, file, line)

    show.__keywell__ = True  # type: ignore[attr-defined]
    warnings.showwarning = show


def render_report(report: Report) -> None:
    """Print a lint report for people: a summary line, then each finding with its advice."""
    out = console()
    counts = report.counts()
    n = len(report.findings)
    summary = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
    keys = f"{report.key_count} key" + ("" if report.key_count == 1 else "s")
    head = f"{escape(report.source)}: {keys}, "
    if n:
        head += f"{n} finding{'' if n == 1 else 's'} ({summary})"
    else:
        head += "no findings"
    out.print(f"[bold]{head}[/]")
    for f in report.findings:
        sev = f.severity.value
        where = ""
        if f.index is not None:
            where = f"  key {f.index}"
            if f.kid is not None:
                where += f' kid "{escape(f.kid)}"'
        out.print()
        out.print(f"[{_STYLES[sev]}]{sev.upper():<8}[/] [bold]{f.code}[/]{where}")
        out.print(f"  {escape(f.message)}")
        out.print(f"  [dim]advice:[/] {escape(f.advice)}")
    out.print()
    if report.failed:
        out.print("[bold red]FAIL[/]: findings of severity high or critical")
    else:
        out.print("[bold green]OK[/]: nothing of severity high or critical")
