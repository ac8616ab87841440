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

_SCOPES = ("read", "sign", "rotate", "revoke", "metrics", "admin")


_CONFIG_HELP = "A TOML configuration file (its [server] table); flags and KEYWELL_* win over it."


def serve(
    database: Annotated[
        str | None,
        typer.Option(
            "--database", metavar="URL", envvar="KEYWELL_DATABASE_URL", help="SQLAlchemy URL."
        ),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(metavar="ADDRESS", envvar="KEYWELL_HOST", help="Listen address."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            metavar="PORT",
            envvar="KEYWELL_PORT",
            help="Listen port; 0 picks a free one (the 'listening' log line names it). "
            "A port in use is an error.",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", metavar="FILE", exists=True, dir_okay=False, help=_CONFIG_HELP),
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            envvar="KEYWELL_PUBLIC_URL",
            help="External base URL used in discovery documents.",
        ),
    ] = None,
    log_json: Annotated[
        bool | None,
        typer.Option("--log-json/--log-text", envvar="KEYWELL_LOG_JSON", help="JSON log lines."),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Machine output: JSON log lines (as --log-json).")
    ] = False,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            metavar="granian|uvicorn",
            envvar="KEYWELL_SERVER",
            help="HTTP server [default: granian].",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            envvar="KEYWELL_WORKERS",
            help="Worker processes, granian only [default: 1].",
        ),
    ] = None,
    max_connections: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            envvar="KEYWELL_MAX_CONNECTIONS",
            help="Connections one worker serves at once [default: 4096].",
        ),
    ] = None,
    header_read_timeout: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS",
            envvar="KEYWELL_HEADER_READ_TIMEOUT",
            help="Close a connection whose request headers take longer (granian) [default: 5].",
        ),
    ] = None,
    body_read_timeout: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS",
            envvar="KEYWELL_BODY_READ_TIMEOUT",
            help="Answer 408 to a request body that takes longer [default: 10].",
        ),
    ] = None,
    metrics_address: Annotated[
        str | None,
        typer.Option(
            metavar="HOST:PORT",
            envvar="KEYWELL_METRICS_ADDRESS",
            help="Also serve /metrics without a token on this private address "
            "(on the main port /metrics needs a token with the metrics scope).",
        ),
    ] = None,
) -> None:
    """Serve the JWKS endpoints, discovery, the admin API and metrics (SIGTERM stops it).

    Every option is also a setting of the --config file and a KEYWELL_*
    variable; the limits on slow clients and their reverse-proxy complements
    are described in keywell.server.limits.
    """
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
            max_connections=max_connections,
            header_read_timeout=header_read_timeout,
            body_read_timeout=body_read_timeout,
            metrics_address=metrics_address,
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
            help=_CONFIG_HELP,
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

        from keywell.issuer.admin_tokens import admin_token_dict

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
            "keywell serve --port 0 --log-json   # a free port, named in the 'listening' line",
            "KEYWELL_KEK_FILE=/etc/keywell/kek keywell serve --database "
            "postgresql+psycopg://keywell@db/keywell --host 0.0.0.0 --public-url https://keys.example.com",
        ),
    )(serve)
    main.add_typer(admin_token_app, name="admin-token")


app = typer.Typer(help="keywell key server commands.", no_args_is_help=True)
register(app)

if __name__ == "__main__":
    app()
