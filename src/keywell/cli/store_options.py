"""The options every command that opens the key store takes: ``--database`` and ``--config``.

Written once so their names, metavars, environment variables and help agree
across ``keyset``, ``kek``, ``db``, ``admin-token`` and ``serve``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["CONFIG_HELP", "ConfigOpt", "DatabaseOpt"]

#: Help of ``--config`` wherever it is taken.
CONFIG_HELP = "A TOML configuration file (its [server] table); flags and KEYWELL_* win over it."

DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database",
        metavar="URL",
        envvar="KEYWELL_DATABASE_URL",
        show_envvar=True,
        help="A SQLAlchemy URL or a SQLite file [default: sqlite:///keywell.db].",
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", metavar="FILE", exists=True, dir_okay=False, help=CONFIG_HELP),
]
