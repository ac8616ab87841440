"""``keywell token``: decode a JWT without verifying it, sign one, and verify one (RFC 7519).

``decode`` checks nothing and says so on every output. ``sign`` sets ``iat``
to now and ``exp`` to now plus ``--ttl``. ``verify`` checks the signature
against a JWK Set (file, URL or discovery) and the claims, and exits 1 on failure.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from keywell.cli.files import STDIO, key_from_file
from keywell.cli.output import JsonOpt, console, die, emit_json, escape, escape_json, examples
from keywell.cli.params import parse_claims, parse_duration

__all__ = ["MAX_TOKEN", "NOT_VERIFIED", "app", "decode_unverified"]

app = typer.Typer(
    help="Decode, sign and verify JSON Web Tokens.", no_args_is_help=True, rich_markup_mode=None
)


#: What ``token decode`` says on every output.
NOT_VERIFIED = (
    "NOT VERIFIED: decoded only. The signature, issuer, audience and expiry were not checked."
)
MAX_TOKEN = 1 << 16
_TIME_CLAIMS = ("iat", "nbf", "exp")


def _segment(raw: str, what: str) -> bytes:
    from keywell.jose.base64url import b64url_decode

    try:
        return b64url_decode(raw)
    except ValueError as exc:
        raise ValueError(f"the {what} is not base64url: {exc}") from None


def decode_unverified(token: str) -> dict[str, Any]:
    """Header, payload and signature size of a compact JWS, with nothing verified.

    Raises:
        ValueError: the text is not a compact JWS (or is a JWE, whose payload is sealed).
    """
    text = token.strip()
    if text.lower().startswith("bearer "):
        text = text[7:].strip()
    if len(text) > MAX_TOKEN:
        raise ValueError(f"the token is longer than {MAX_TOKEN} characters")
    parts = text.split(".")
    if len(parts) == 5:
        raise ValueError("this is an encrypted JWE: its payload cannot be read without the key")
    if len(parts) != 3:
        raise ValueError("a JWT has three dot-separated segments")
    raw_header = _segment(parts[0], "header")
    try:
        header = json.loads(raw_header)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("the header is not JSON") from None
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    body = _segment(parts[1], "payload")
    try:
        payload: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        payload = body.decode("utf-8", "replace")
    times = {}
    if isinstance(payload, dict):
        for name in _TIME_CLAIMS:
            value = payload.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                try:
                    times[name] = datetime.fromtimestamp(value, UTC).isoformat()
                except (OverflowError, OSError, ValueError):
                    continue
    return {
        "verified": False,
        "note": NOT_VERIFIED,
        "header": header,
        "payload": payload,
        "times": times,
        "signature_bytes": len(_segment(parts[2], "signature")),
    }


def _relative(seconds: float) -> str:
    """``in 14m30s`` or ``2h ago``, in the duration syntax the options accept."""
    from keywell.cli.params import format_duration

    amount = format_duration(abs(seconds))
    return f"in {amount}" if seconds >= 0 else f"{amount} ago"


@app.command(
    epilog=examples(
        "keywell token decode eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln",
        "echo $TOKEN | keywell token decode - --json",
    )
)
def decode(
    token: Annotated[
        str, typer.Argument(metavar="TOKEN", help="The JWT, or - to read it from stdin.")
    ],
    json_out: JsonOpt = False,
) -> None:
    """Show a JWT's header and claims WITHOUT verifying anything."""
    if token == STDIO:
        token = typer.get_text_stream("stdin").read(MAX_TOKEN + 1)
    try:
        result = decode_unverified(token)
    except ValueError as exc:
        die(str(exc), json_mode=json_out, code="malformed")
    if json_out:
        emit_json(result)
        return
    out = console()
    out.print(f"[bold yellow]{NOT_VERIFIED}[/]")
    out.print("[bold]header[/]")
    out.print(escape_json(result["header"]))
    out.print("[bold]payload[/]")
    payload = result["payload"]
    out.print(escape(payload) if isinstance(payload, str) else escape_json(payload))
    now = time.time()
    for name, iso in result["times"].items():
        out.print(f"{name}: {iso} ({_relative(payload[name] - now)})")
    out.print(f"signature: {result['signature_bytes']} bytes (not checked)")


@app.command(
    epilog=examples(
        "keywell token sign --key signer-1.jwk --claim sub=alice \\",
        "    --claim iss=https://auth.example.com --claim 'aud=[\"api\"]' --ttl 15m",
    )
)
def sign(
    key_file: Annotated[
        str, typer.Option("--key", metavar="FILE", help="Private key: JWK, PEM or DER file.")
    ],
    claim: Annotated[
        list[str] | None,
        typer.Option(
            "--claim",
            "-c",
            metavar="NAME=VALUE",
            help="name=value, each name once; the value is JSON if it parses "
            '(several audiences: \'aud=["a","b"]\').',
        ),
    ] = None,
    ttl: Annotated[
        str, typer.Option("--ttl", metavar="DURATION", help="Lifetime: 30s, 15m, 2h, 1d.")
    ] = "15m",
    alg: Annotated[
        str | None, typer.Option("--alg", metavar="ALG", help="Default: the key's alg.")
    ] = None,
    typ: Annotated[str, typer.Option("--typ", metavar="TYP", help="The header typ.")] = "JWT",
    json_out: JsonOpt = False,
) -> None:
    """Sign a JWT with a private key; sets iat to now and exp to now plus --ttl."""
    from keywell.errors import KeywellError
    from keywell.jose import jwt

    try:
        lifetime = parse_duration(ttl)
        claims = parse_claims(claim or ())
    except ValueError as exc:
        die(str(exc), json_mode=json_out)
    for name in ("iat", "exp"):
        if name in claims:
            die(f"{name} is set by keywell; use --ttl for the lifetime", json_mode=json_out)
    key = key_from_file(key_file, json_mode=json_out)
    if not key.is_private:
        die(f"{key_file}: this is a public key; signing needs the private key", json_mode=json_out)
    now = int(time.time())
    claims["iat"] = now
    claims["exp"] = now + lifetime
    try:
        token = jwt.encode(claims, key, alg=alg, typ=typ)
    except KeywellError as exc:
        die(exc.message, json_mode=json_out, code=exc.code)
    if json_out:
        header = decode_unverified(token)["header"]
        emit_json({"token": token, "header": header, "claims": claims})
    else:
        typer.echo(token)
