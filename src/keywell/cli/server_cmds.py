"""``keywell serve`` and ``keywell admin-token create``: the key server's commands.

Register them into the main application with::

    app.command("serve")(server_cmds.serve)
    app.add_typer(server_cmds.admin_token_app, name="admin-token")

or call :func:`register`. Heavy imports happen inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from keywell.cli.output import examples

__all__ = ["admin_token_app", "app", "register", "serve"]

admin_token_app = typer.Typer(help="Admin API tokens (stored hashed; the secret is shown once).")

_SCOPES = ("read", "sign", "rotate", "revoke", "admin")


def serve(
    database: Annotated[
        str | None,
        typer.Option("--database", help="SQLAlchemy URL (env KEYWELL_DATABASE_URL)."),
    ] = None,
    host: Annotated[str | None, typer.Option(help="Listen address (env KEYWELL_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (env KEYWELL_PORT).")] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", exists=True, dir_okay=False, help="A TOML configuration file."),
    ] = None,
    public_url: Annotated[
        str | None, typer.Option(help="External base URL used in discovery documents.")
    ] = None,
    log_json: Annotated[
        bool | None, typer.Option("--log-json/--log-text", help="JSON log lines.")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Machine output: JSON log lines (as --log-json).")
    ] = False,
    server: Annotated[
        str | None,
        typer.Option(
            "--server", help="HTTP server: granian (default) or uvicorn (env KEYWELL_SERVER)."
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Worker processes, granian only (env KEYWELL_WORKERS; default 1)."),
    ] = None,
) -> None:
    """Serve the JWKS endpoints, discovery, the admin API and metrics (SIGTERM stops it)."""
    if json_out:
        log_json = True
    from keywell.errors import KeywellError
    from keywell.server.config import load_config
    from keywell.server.runner import serve as run

    try:
        cfg = load_config(
            file=config,
            database_url=database,
            host=host,
            port=port,
            public_url=public_url,
            log_json=log_json,
            server=server,
            workers=workers,
        )
        run(cfg)
    except (KeywellError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@admin_token_app.command(
    "create",
    epilog=examples(
        "keywell admin-token create --scope read --scope sign --database sqlite:///keywell.db",
        "keywell admin-token create --scope admin --name ops --json",
    ),
)
def create_token(
    scope: Annotated[
        list[str],
        typer.Option("--scope", metavar="SCOPE", help=f"Repeatable; one of {', '.join(_SCOPES)}."),
    ],
    name: Annotated[
        str, typer.Option("--name", metavar="NAME", help="A label for the audit log.")
    ] = "",
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            metavar="URL",
            envvar="KEYWELL_DATABASE_URL",
            show_envvar=True,
            help="A SQLAlchemy URL or a SQLite file [default: sqlite:///keywell.db].",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="FILE",
            exists=True,
            dir_okay=False,
            help="A TOML configuration file (its [server] table), as for keywell serve.",
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")] = False,
    ttl: Annotated[
        str, typer.Option("--ttl", metavar="DURATION", help="Lifetime: 1h, 30d, 1d12h...")
    ] = "90d",
) -> None:
    """Create an admin API token and print its secret once (only its hash is stored)."""
    from datetime import timedelta

    from keywell.cli.params import parse_duration
    from keywell.errors import KeywellError
    from keywell.server.config import load_config
    from keywell.server.runner import open_issuer

    try:
        lifetime = timedelta(seconds=parse_duration(ttl))
    except ValueError as exc:
        typer.echo(f"error: --ttl: {exc}", err=True)
        raise typer.Exit(2) from None
    unknown = sorted(set(scope) - set(_SCOPES))
    if unknown:
        typer.echo(f"error: unknown scope(s) {', '.join(unknown)}", err=True)
        raise typer.Exit(2)
    try:
        from keywell.cli.keyset_backends import database_url

        url = database_url(database) if database else None  # a bare path is a SQLite file
        cfg = load_config(file=config, database_url=url)
        issuer = open_issuer(cfg)
        try:
            secret = issuer.create_admin_token(scope, name=name, actor="cli", ttl=lifetime)
            info = issuer.admin_token_info(secret)
        finally:
            issuer.close()
    except (KeywellError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if json_out:
        import json

        from keywell.cli.wire import admin_token_dict

        shown = admin_token_dict(info) if info is not None else {}
        typer.echo(json.dumps({**shown, "token": secret, "scopes": sorted(set(scope))}))
    else:
        typer.echo(secret)


def register(main: typer.Typer) -> None:
    """Add ``serve`` and ``admin-token`` to the main ``keywell`` application."""
    main.command(
        "serve",
        epilog=examples(
            "keywell serve --database sqlite:///keywell.db --port 8080",
            "KEYWELL_KEK_FILE=/etc/keywell/kek keywell serve --database "
            "postgresql+psycopg://keywell@db/keywell --host 0.0.0.0 --public-url https://keys.example.com",
        ),
    )(serve)
    main.add_typer(admin_token_app, name="admin-token")


app = typer.Typer(help="keywell key server commands.", no_args_is_help=True)
register(app)

if __name__ == "__main__":
    app()
