"""``keywell token verify``: check a token against a JWKS URL or file, or an issuer.

Kept apart from :mod:`keywell.cli.token_cmds` (decode, sign), which registers
it on the ``token`` group.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from keywell.cli.files import STDIO
from keywell.cli.output import EXIT_FAILED, JsonOpt, console, die, emit_json, escape, examples
from keywell.cli.params import parse_duration
from keywell.cli.token_cmds import MAX_TOKEN, decode_unverified

__all__ = ["register", "verify"]

EXAMPLES = examples(
    "keywell token verify $TOKEN --issuer https://auth.example.com --audience api",
    "keywell token verify $TOKEN --jwks https://auth.example.com/jwks.json \\",
    "    --iss https://auth.example.com --audience api --alg ES256 --leeway 30s",
    "echo $TOKEN | keywell token verify - --jwks jwks.json --audience api --json",
)


def _verify_keys(jwks: str | None, issuer_url: str | None, json_out: bool) -> Any:
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
            return RemoteJWKSet.from_issuer(issuer_url)
        if source.startswith(("http://", "https://")):
            return RemoteJWKSet(source)
    except KeywellError as exc:  # discovery failed: the issuer cannot be verified against
        die(exc.message, json_mode=json_out, code=exc.code, exit_code=EXIT_FAILED)
    except ValueError as exc:
        die(f"{source}: {exc}", json_mode=json_out)
    try:
        data = read_input(source)
        if data.lstrip().startswith(b"{"):
            doc = json.loads(data)
            if isinstance(doc, dict) and "keys" in doc:
                return JWKSet.from_dict(doc)
        return load_key(data)
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
        list[str],
        typer.Option("--audience", "--aud", metavar="AUD", help="Accepted audience; repeatable."),
    ],
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
        typer.Option("--iss", metavar="ISS", help="Expected iss (default: --issuer; else none)."),
    ] = None,
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
    json_out: JsonOpt = False,
) -> None:
    """Verify a JWT's signature and claims; print the claims, or exit 1 with the reason.

    The key comes from --jwks (a URL, fetched with keywell's client, or a
    JWKS, JWK or PEM file) or from the --issuer's discovery document, never
    from the token. Without --issuer or --iss the issuer is not checked.
    """
    from keywell import Verifier
    from keywell.errors import KeywellError

    if token == STDIO:
        token = typer.get_text_stream("stdin").read(MAX_TOKEN + 1).strip()
    try:
        skew = parse_duration(leeway) if leeway is not None else 0
    except ValueError as exc:
        die(f"--leeway: {exc}", json_mode=json_out)
    expected_iss = iss or issuer_url
    keys = _verify_keys(jwks, issuer_url, json_out)
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
                "issuer_checked": bool(expected_iss),
            }
        )
        return
    out = console()
    signer = f"kid {header.get('kid')!s}, {header.get('alg')}"
    out.print(f"[bold green]VERIFIED[/]: signature ({escape(signer)}) and claims are valid")
    if not expected_iss:
        out.print("[yellow]note:[/] the issuer was not checked (pass --iss or --issuer)")
    out.print(escape(json.dumps(claims, indent=2, ensure_ascii=False)))


def register(app: typer.Typer) -> None:
    """Attach ``verify`` to the ``token`` group."""
    app.command("verify", epilog=EXAMPLES)(verify)
