"""``keywell serve`` and ``keywell admin-token create``: the key server's commands.

Registered into the main application by :func:`register`. Every ``serve``
option is also a ``KEYWELL_*`` variable and a TOML setting. Heavy imports
happen inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from keywell.cli.output import examples
from keywell.cli.store_options import CONFIG_HELP, DatabaseOpt

__all__ = ["admin_token_app", "app", "register", "serve"]

admin_token_app = typer.Typer(help="Admin API tokens (stored hashed; the secret is shown once).")


def _env_option(metavar: str, variable: str, help: str) -> Any:
    """An option that ``KEYWELL_<variable>`` also sets."""
    return typer.Option(metavar=metavar, envvar=f"KEYWELL_{variable}", help=help)


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
        _env_option(
            "PORT",
            "PORT",
            "Listen port; 0 picks a free one (the 'listening' log line names it). "
            "A port in use is an error.",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", metavar="FILE", exists=True, dir_okay=False, help=CONFIG_HELP),
    ] = None,
    public_url: Annotated[
        str | None,
        _env_option("URL", "PUBLIC_URL", "External base URL used in discovery documents."),
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
        _env_option("N", "WORKERS", "Worker processes, granian only [default: 1]."),
    ] = None,
    max_connections: Annotated[
        int | None,
        _env_option(
            "N", "MAX_CONNECTIONS", "Connections one worker serves at once [default: 4096]."
        ),
    ] = None,
    header_read_timeout: Annotated[
        float | None,
        _env_option(
            "SECONDS",
            "HEADER_READ_TIMEOUT",
            "Close a connection whose request headers take longer (granian) [default: 5].",
        ),
    ] = None,
    body_read_timeout: Annotated[
        float | None,
        _env_option(
            "SECONDS",
            "BODY_READ_TIMEOUT",
            "Answer 408 to a request body that takes longer [default: 10].",
        ),
    ] = None,
    backlog: Annotated[
        int | None,
        _env_option(
            "N",
            "BACKLOG",
            "Listen queue: connections the kernel holds before accept [default: 2048].",
        ),
    ] = None,
    max_body_bytes: Annotated[
        int | None,
        _env_option(
            "BYTES",
            "MAX_BODY_BYTES",
            "The largest admin request body; a larger one gets 413 [default: 65536].",
        ),
    ] = None,
    auth_failure_limit: Annotated[
        int | None,
        _env_option(
            "N",
            "AUTH_FAILURE_LIMIT",
            "Unknown admin tokens one client address may present per window, "
            "then 429 [default: 20].",
        ),
    ] = None,
    auth_failure_window: Annotated[
        float | None,
        _env_option(
            "SECONDS",
            "AUTH_FAILURE_WINDOW",
            "The window over which --auth-failure-limit refills [default: 60].",
        ),
    ] = None,
    metrics_address: Annotated[
        str | None,
        _env_option(
            "HOST:PORT",
            "METRICS_ADDRESS",
            "Also serve /metrics without a token on this private address "
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
            backlog=backlog,
            max_body_bytes=max_body_bytes,
            auth_failure_limit=auth_failure_limit,
            auth_failure_window=auth_failure_window,
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
        typer.Option(
            "--scope",
            metavar="SCOPE",
            help="Repeatable; a scope of the key server's admin API "
            "(keywell.server.auth.SCOPES; an unknown one lists them).",
        ),
    ],
    name: Annotated[
        str, typer.Option("--name", metavar="NAME", help="A label for the audit log.")
    ] = "",
    database: DatabaseOpt = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="FILE",
            exists=True,
            dir_okay=False,
            help=CONFIG_HELP,
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
    from keywell.lifecycle.names import check_label
    from keywell.server.auth import SCOPES
    from keywell.server.config import load_config
    from keywell.server.runner import open_issuer

    try:
        check_label(name, "name", empty=True)
    except ValueError as exc:
        typer.echo(f"error: --name: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        lifetime = timedelta(seconds=parse_duration(ttl))
    except ValueError as exc:
        typer.echo(f"error: --ttl: {exc}", err=True)
        raise typer.Exit(2) from None
    unknown = sorted(set(scope) - SCOPES)
    if unknown:
        from keywell.cli.output import printable

        typer.echo(
            f"error: unknown scope(s) {printable(', '.join(unknown))}; "
            f"the scopes are {', '.join(sorted(SCOPES))}",
            err=True,
        )
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
