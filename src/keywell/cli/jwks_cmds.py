"""``keywell jwks``: judge a JWK Set file or URL (see :mod:`keywell.lint`)."""

from __future__ import annotations

from typing import Annotated

import typer

from keywell.cli.files import STDIO, read_input
from keywell.cli.output import EXIT_FAILED, die, emit_json, examples, render_report

__all__ = ["app"]

app = typer.Typer(help="Inspect JSON Web Key Sets.", no_args_is_help=True, rich_markup_mode=None)


@app.command(
    epilog=examples(
        "keywell jwks lint jwks.json",
        "keywell jwks lint https://www.googleapis.com/oauth2/v3/certs --json",
    )
)
def lint(
    source: Annotated[
        str, typer.Argument(metavar="FILE|URL", help="A JWKS file, - for stdin, or an http(s) URL.")
    ],
    timeout: Annotated[
        float,
        typer.Option("--timeout", metavar="SECONDS", help="Seconds to wait for a URL.", min=0.1),
    ] = 10.0,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")] = False,
) -> None:
    """Report what is wrong with a published JWK Set, with advice; exit 1 on high/critical.

    Checks leaked private or symmetric keys, weak RSA, alg/key mismatches,
    duplicate kids, x5c/x5t consistency and expiry, missing kid/alg/use,
    non-canonical encodings, mixed encryption keys and unknown members; for a
    URL also the status and the Cache-Control, max-age and ETag headers.
    """
    from keywell.lint import lint_json, lint_url

    if source.startswith(("http://", "https://")):
        report = lint_url(source, timeout=timeout)
    else:
        try:
            data = read_input(source)
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            die(f"{source}: {reason}", json_mode=json_out, code="file")
        report = lint_json(data, source="stdin" if source == STDIO else source)
    if json_out:
        emit_json(report.to_dict())
    else:
        render_report(report)
    if report.failed:
        raise typer.Exit(EXIT_FAILED)
