"""keywell.cli: the ``keywell`` command (Typer and rich, from the ``cli`` extra).

:func:`main` is the console-script entry point; the Typer app lives in
:mod:`keywell.cli.app` and is imported only when the command runs.
"""

from __future__ import annotations

__all__ = ["main"]


def main() -> None:
    """Run the ``keywell`` command line."""
    from keywell.cli.app import app

    app(prog_name="keywell")
