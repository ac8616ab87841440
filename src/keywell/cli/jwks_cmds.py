"""``keywell jwks``: judge a JWK Set file or URL (see :mod:`keywell.lint`), or fetch one."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from keywell.cli.files import STDIO, read_input
from keywell.cli.output import (
    EXIT_FAILED,
    console,
    die,
    emit_json,
    escape,
    examples,
    render_report,
    warn,
    weak_rsa_noted,
)

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


@app.command(
    epilog=examples(
        "keywell jwks fetch https://www.googleapis.com/oauth2/v3/certs",
        "keywell jwks fetch https://auth.example.com/.well-known/jwks.json --json",
    )
)
def fetch(
    url: Annotated[str, typer.Argument(metavar="URL", help="The https URL of a JWK Set.")],
    timeout: Annotated[
        float,
        typer.Option("--timeout", metavar="SECONDS", help="Seconds to wait.", min=0.1),
    ] = 5.0,
    allow_weak_rsa: Annotated[
        bool,
        typer.Option(
            "--allow-weak-rsa",
            help="Load RSA keys of 512-2047 bits as usable (to verify legacy tokens).",
        ),
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")] = False,
) -> None:
    """Fetch a JWK Set as keywell's client does: its keys, caching headers and cache TTL.

    Exit 1 when the fetch fails or the set holds no key at all (the reason is
    printed); keys it skips are listed with why. Plain http is accepted only
    for loopback hosts. (``jwks lint`` needs no --allow-weak-rsa: it loads
    weak RSA keys to report them as findings.)
    """
    from dataclasses import asdict

    from keywell.client import fetch_report
    from keywell.errors import KeywellError

    try:
        with weak_rsa_noted() as noted:
            report = fetch_report(url, timeout=timeout, allow_weak_rsa=allow_weak_rsa)
    except KeywellError as exc:
        die(exc.message, json_mode=json_out, code=exc.code, exit_code=EXIT_FAILED)
    except ValueError as exc:
        die(f"{url}: {exc}", json_mode=json_out)
    for message in noted:
        warn(f"{message} (--allow-weak-rsa)")  # stderr: the JSON on stdout stays clean
    usable = set(report.usable_kids)
    keys = [
        {"kid": k.kid, "kty": k.kty, "alg": k.alg, "use": k.use, "usable": k.kid in usable}
        for k in report.keys
    ]
    skipped = [
        {"index": s.index, "kid": s.kid, "code": s.code, "reason": s.reason}
        for s in report.keys.skipped
    ]
    headers = {k: v for k, v in asdict(report.headers).items() if v is not None}
    if json_out:
        emit_json(
            {
                "url": report.url,
                "keys": keys,
                "skipped": skipped,
                "headers": headers,
                "ttl": report.ttl,
            }
        )
        return
    _render_fetch(report.url, keys, skipped, headers, report.ttl)


def _render_fetch(
    url: str,
    keys: list[dict[str, Any]],
    skipped: list[dict[str, Any]],
    headers: dict[str, str],
    ttl: float,
) -> None:
    out = console()
    out.print(f"[bold]{escape(url)}[/]: {len(keys)} key(s)")
    for k in keys:
        mark = "" if k["usable"] else "  [yellow](not usable for verification)[/]"
        fields = "  ".join(f"{name}={k[name] or '-'}" for name in ("kid", "kty", "alg", "use"))
        out.print(f"  {escape(fields)}{mark}")
    for s in skipped:
        out.print(f"  [yellow]skipped[/] key {s['index']} ({escape(str(s['kid']))}): {s['reason']}")
    out.print("[bold]caching headers[/]")
    if not headers:
        out.print("  (none)")
    for name, value in headers.items():
        out.print(f"  {name.replace('_', '-')}: {escape(value)}")
    from keywell.cli.params import format_duration

    out.print(f"keywell would cache this set for {format_duration(ttl)}")
