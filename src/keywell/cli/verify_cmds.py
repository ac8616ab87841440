"""``keywell token verify``: check a token against a JWKS URL or file, or an issuer.

Kept apart from :mod:`keywell.cli.token_cmds` (decode, sign), which registers
it on the ``token`` group.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from keywell.cli.files import STDIO
from keywell.cli.output import (
    EXIT_FAILED,
    JsonOpt,
    console,
    die,
    emit_json,
    escape,
    escape_json,
    examples,
    weak_rsa_noted,
)
from keywell.cli.params import parse_duration
from keywell.cli.token_cmds import MAX_TOKEN, decode_unverified

__all__ = ["register", "verify"]

EXAMPLES = examples(
    "keywell token verify $TOKEN --issuer https://auth.example.com --audience api",
    "keywell token verify $TOKEN --jwks https://auth.example.com/jwks.json \\",
    "    --iss https://auth.example.com --audience api --alg ES256 --leeway 30s",
    "echo $TOKEN | keywell token verify - --jwks jwks.json --no-issuer --no-audience --json",
)


def _claim_checks(
    audience: list[str] | None,
    no_audience: bool,
    expected_iss: str | None,
    no_issuer: bool,
    json_out: bool,
) -> tuple[list[str] | None, str | None]:
    """The audience and issuer to require: each given, or disabled explicitly (never by omission).

    As in the Python API, where ``audience=None``/``issuer=None`` must be
    written out: one rule for both claims.
    """
    checks = (
        ("--audience", "--no-audience", bool(audience), no_audience),
        ("--iss or --issuer", "--no-issuer", expected_iss is not None, no_issuer),
    )
    for given_flag, off_flag, given, off in checks:
        if given and off:
            die(f"give {given_flag} or {off_flag}, not both", json_mode=json_out)
        if not given and not off:
            die(
                f"give {given_flag}, or {off_flag} to skip that check explicitly",
                json_mode=json_out,
            )
    return (None if no_audience else audience), (None if no_issuer else expected_iss)


def _verify_keys(
    jwks: str | None, issuer_url: str | None, json_out: bool, allow_weak_rsa: bool
) -> Any:
    """The key source: a remote set (URL or discovery) or a JWKS/JWK/PEM file."""
    from keywell.cli.files import load_key, read_input
    from keywell.client import RemoteJWKSet
    from keywell.errors import KeywellError
    from keywell.jose.jwkset import JWKSet

    if (jwks is None) == (issuer_url is None):
        die("give exactly one of --jwks URL|FILE and --issuer URL", json_mode=json_out)
    source = str(jwks or issuer_url)
    try:
        if issuer_url is not None:
            return RemoteJWKSet.from_issuer(issuer_url, allow_weak_rsa=allow_weak_rsa)
        if source.startswith(("http://", "https://")):
            return RemoteJWKSet(source, allow_weak_rsa=allow_weak_rsa)
    except KeywellError as exc:  # discovery failed: the issuer cannot be verified against
        die(exc.message, json_mode=json_out, code=exc.code, exit_code=EXIT_FAILED)
    except ValueError as exc:
        die(f"{source}: {exc}", json_mode=json_out)
    try:
        data = read_input(source)
        if data.lstrip().startswith(b"{"):
            doc = json.loads(data)
            if isinstance(doc, dict) and "keys" in doc:
                return JWKSet.from_dict(doc, allow_weak_rsa=allow_weak_rsa)
        return load_key(data, allow_weak_rsa=allow_weak_rsa)
    except KeywellError as exc:
        die(f"{source}: {exc.message}", json_mode=json_out, code=exc.code)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        die(f"{source}: {reason}", json_mode=json_out, code="file")


def verify(
    token: Annotated[
        str, typer.Argument(metavar="TOKEN", help="The JWT, or - to read it from stdin.")
    ],
    audience: Annotated[
        list[str] | None,
        typer.Option(
            "--audience",
            "--aud",
            metavar="AUD",
            help="Accepted audience; repeatable. Required unless --no-audience.",
        ),
    ] = None,
    no_audience: Annotated[
        bool, typer.Option("--no-audience", help="Do not check aud (explicit opt-out).")
    ] = False,
    jwks: Annotated[
        str | None,
        typer.Option("--jwks", metavar="URL|FILE", help="The JWK Set: https URL or file."),
    ] = None,
    issuer_url: Annotated[
        str | None,
        typer.Option(
            "--issuer", metavar="URL", help="Find the JWKS by discovery; also the expected iss."
        ),
    ] = None,
    iss: Annotated[
        str | None,
        typer.Option(
            "--iss", metavar="ISS", help="Expected iss (default: --issuer). Or --no-issuer."
        ),
    ] = None,
    no_issuer: Annotated[
        bool, typer.Option("--no-issuer", help="Do not check iss (explicit opt-out).")
    ] = False,
    alg: Annotated[
        list[str] | None,
        typer.Option("--alg", metavar="ALG", help="Allowed algorithm; repeatable."),
    ] = None,
    leeway: Annotated[
        str | None,
        typer.Option("--leeway", metavar="DURATION", help="Clock skew allowed, e.g. 30s."),
    ] = None,
    typ: Annotated[
        str | None, typer.Option("--typ", metavar="TYP", help="Required header typ (at+jwt).")
    ] = None,
    allow_weak_rsa: Annotated[
        bool,
        typer.Option(
            "--allow-weak-rsa",
            help="Accept RSA keys of 512-2047 bits, to verify legacy tokens (never to sign).",
        ),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Verify a JWT's signature and claims; print the claims, or exit 1 with the reason.

    The key comes from --jwks (a URL, fetched with keywell's client, or a
    JWKS, JWK or PEM file) or from the --issuer's discovery document, never
    from the token. The audience and the issuer are always checked unless
    switched off by name (--no-audience, --no-issuer), as in the Python API.
    """
    from keywell import Verifier
    from keywell.errors import KeywellError

    if token == STDIO:
        token = typer.get_text_stream("stdin").read(MAX_TOKEN + 1).strip()
    try:
        skew = parse_duration(leeway) if leeway is not None else 0
    except ValueError as exc:
        die(f"--leeway: {exc}", json_mode=json_out)
    audience, expected_iss = _claim_checks(
        audience, no_audience, iss or issuer_url, no_issuer, json_out
    )
    with weak_rsa_noted() as noted:
        keys = _verify_keys(jwks, issuer_url, json_out, allow_weak_rsa)
        try:
            verifier = Verifier(
                keys, issuer=expected_iss, audience=audience, algorithms=alg, leeway=skew, typ=typ
            )
            claims = dict(verifier.verify(token))
        except KeywellError as exc:
            die(exc.message, json_mode=json_out, code=exc.code, exit_code=EXIT_FAILED)
        except ValueError as exc:
            die(str(exc), json_mode=json_out)
        finally:
            close = getattr(keys, "close", None)
            if callable(close):
                close()
    header = decode_unverified(token)["header"]
    if json_out:
        emit_json(
            {
                "verified": True,
                "header": header,
                "claims": claims,
                "issuer_checked": expected_iss is not None,
                "audience_checked": audience is not None,
                "weak_rsa_accepted": bool(noted),
            }
        )
        return
    out = console()
    signer = f"kid {header.get('kid')!s}, {header.get('alg')}"
    out.print(f"[bold green]VERIFIED[/]: signature ({escape(signer)}) and claims are valid")
    if expected_iss is None:
        out.print("[yellow]note:[/] the issuer was not checked (--no-issuer)")
    if audience is None:
        out.print("[yellow]note:[/] the audience was not checked (--no-audience)")
    for message in noted:
        out.print(f"[yellow]note:[/] {escape(message)} (--allow-weak-rsa)")
    out.print(escape_json(claims))


def register(app: typer.Typer) -> None:
    """Attach ``verify`` to the ``token`` group."""
    app.command("verify", epilog=EXAMPLES)(verify)
