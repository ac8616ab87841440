"""The ``keywell`` Typer application: the root options and one sub-app per command group.

Each group lives in its own module (``jwk_cmds``, ``token_cmds``,
``jwks_cmds``, ``keyset_cmds``; ``admin_cmds`` holds ``kek`` and ``db``)
exposing a ``typer.Typer`` and is registered below with
:meth:`typer.Typer.add_typer`. Modules import only ``typer`` at import
time; everything heavier is imported inside the commands, so ``keywell
--help`` starts fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

from keywell.cli import (
    admin_cmds,
    admin_token_cmds,
    jwk_cmds,
    jwks_cmds,
    keyset_cmds,
    server_cmds,
    token_cmds,
    verify_cmds,
)
from keywell.cli.output import examples, plain_argument_help, quiet_library_logs, route_warnings

__all__ = ["app"]

plain_argument_help()

app = typer.Typer(
    name="keywell",
    help="JSON Web Key Sets end to end: keys, tokens and JWKS checks from the terminal.\n\n"
    "Every command takes --json for scripts. Exit codes: 0 success, 1 a verification "
    "or lint failure, 2 a usage error, 3 nothing done yet (keyset rotate before the "
    "pending key may sign; the output says when).",
    epilog=examples(
        "keywell jwk generate --alg ES256 --out key.jwk --public-out key.pub.jwk",
        "keywell token sign --key key.jwk --claim sub=alice --ttl 15m",
        "keywell jwks lint https://example.com/.well-known/jwks.json",
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    # A crash must never print local variables: they may hold private keys.
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        from keywell import __version__

        typer.echo(f"keywell {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """JSON Web Key Sets end to end: keys, tokens and JWKS checks from the terminal.

    Every command takes --json for scripts. Exit codes: 0 success, 1 a
    verification or lint failure, 2 a usage error, 3 nothing done yet
    (keyset rotate before the pending key may sign; the output says when).
    """
    route_warnings()
    quiet_library_logs()


app.add_typer(jwk_cmds.app, name="jwk")
verify_cmds.register(token_cmds.app)  # `token verify` lives in its own module
app.add_typer(token_cmds.app, name="token")
app.add_typer(jwks_cmds.app, name="jwks")
app.add_typer(keyset_cmds.app, name="keyset")
app.add_typer(admin_cmds.kek_app, name="kek")
app.add_typer(admin_cmds.db_app, name="db")
server_cmds.register(app)
admin_token_cmds.register(server_cmds.admin_token_app)  # list and revoke beside create
