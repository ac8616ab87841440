"""``keywell jwk``: generate, convert, thumbprint and strip keys (RFC 7517, RFC 7638).

Private material is written only where the user asked for it: to a file
created with mode 0600, or to stdout when the output file is ``-``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from keywell.cli.files import STDIO, key_from_file, save
from keywell.cli.output import JsonOpt, console, die, emit_json, escape, examples

__all__ = ["app"]

app = typer.Typer(
    help="Generate, convert, thumbprint and strip JSON Web Keys.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

ForceOpt = Annotated[bool, typer.Option("--force", help="Replace output files that exist.")]
PasswordOpt = Annotated[
    str | None,
    typer.Option(
        "--password-file",
        metavar="FILE",
        help="File holding the password of an encrypted PEM/DER key.",
    ),
]


def _summary(key: Any) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "kty": key.kty,
        "crv": key.crv,
        "alg": key.alg,
        "private": key.is_private,
        "thumbprint": key.thumbprint() if not key.is_symmetric else None,
    }


def _dump(members: dict[str, Any]) -> bytes:
    return (json.dumps(members, indent=2) + "\n").encode()


@app.command(
    epilog=examples(
        "keywell jwk generate --alg ES256 --kid signer-1 --out signer-1.jwk \\",
        "    --public-out signer-1.pub.jwk",
        "keywell jwk generate --alg RS256 --rsa-bits 3072 --out - --json",
    )
)
def generate(
    alg: Annotated[
        str, typer.Option("--alg", metavar="ALG", help="ES256, RS256, PS256, EdDSA, HS256, ...")
    ],
    out: Annotated[
        str,
        typer.Option(
            "--out", "-o", metavar="FILE", help="Private key file (created 0600), or - for stdout."
        ),
    ],
    kid: Annotated[
        str | None, typer.Option("--kid", metavar="KID", help="Key ID (default: thumbprint).")
    ] = None,
    public_out: Annotated[
        str | None,
        typer.Option("--public-out", metavar="FILE", help="Also write the public JWK here."),
    ] = None,
    rsa_bits: Annotated[
        int, typer.Option("--rsa-bits", metavar="BITS", help="RSA modulus size.")
    ] = 2048,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Generate a new private signing key as a JWK."""
    from keywell.errors import KeywellError
    from keywell.jose.jwk import JWK

    try:
        key = JWK.generate(alg, kid=kid, rsa_bits=rsa_bits)
        public = key.to_dict() if public_out is not None else None
    except KeywellError as exc:
        die(exc.message, json_mode=json_out, code=exc.code)
    private_bytes = _dump(key.to_dict(private=True))
    if out != STDIO:
        save(out, private_bytes, private=True, force=force, json_mode=json_out)
    if public_out is not None and public is not None:
        save(public_out, _dump(public), private=False, force=force, json_mode=json_out)
    result = {**_summary(key), "out": out, "public_out": public_out}
    if json_out:
        if out == STDIO:
            result["jwk"] = key.to_dict(private=True)
        emit_json(result)
        return
    if out == STDIO:
        typer.echo(private_bytes.decode(), nl=False)
    msg = console(stderr=out == STDIO)
    msg.print(f"[green]generated[/] {key.alg} key, kid [bold]{escape(str(key.kid))}[/]")
    if out != STDIO:
        msg.print(f"  private key: {escape(out)} (mode 0600)")
    if public_out is not None:
        msg.print(f"  public key:  {escape(public_out)}")


@app.command(
    epilog=examples(
        "keywell jwk convert key.pem                  # PEM to public JWK",
        "keywell jwk convert key.jwk --to pem --private --out key.pem",
    )
)
def convert(
    source: Annotated[
        str, typer.Argument(metavar="FILE", help="JWK, PEM or DER file, or - for stdin.")
    ],
    to: Annotated[
        str | None,
        typer.Option("--to", metavar="jwk|pem", help="jwk or pem (default: the other one)."),
    ] = None,
    private: Annotated[
        bool, typer.Option("--private", help="Convert the private key (needs --out).")
    ] = False,
    out: Annotated[
        str | None, typer.Option("--out", "-o", metavar="FILE", help="Output file, - for stdout.")
    ] = None,
    kid: Annotated[
        str | None, typer.Option("--kid", metavar="KID", help="Set the kid of a JWK output.")
    ] = None,
    alg: Annotated[
        str | None, typer.Option("--alg", metavar="ALG", help="Set the alg of a JWK output.")
    ] = None,
    password_file: PasswordOpt = None,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Convert a key between PEM (PKCS#8 / SubjectPublicKeyInfo) and JWK, public by default."""
    from keywell.errors import KeywellError
    from keywell.jose.jwk import JWK

    if to not in (None, "jwk", "pem"):
        die("--to must be jwk or pem", json_mode=json_out)
    if private and out is None:
        die("private output needs --out FILE (created 0600) or --out -", json_mode=json_out)
    key = key_from_file(source, json_mode=json_out, password_file=password_file)
    is_jwk = key_is_json(source)
    target = to or ("pem" if is_jwk else "jwk")
    try:
        if kid is not None or alg is not None:
            members = key.to_dict(private=True)
            members.update({k: v for k, v in (("kid", kid), ("alg", alg)) if v is not None})
            key = JWK.from_dict(members)
        if target == "pem":
            data = key.to_pem(private=private)
            rendered: Any = data.decode()
        else:
            if private and not key.is_private:
                die("the key is public: there is no private half to convert", json_mode=json_out)
            rendered = key.to_dict(private=private)
            data = _dump(rendered)
    except KeywellError as exc:
        die(exc.message, json_mode=json_out, code=exc.code)
    if out is not None and out != STDIO:
        save(out, data, private=private, force=force, json_mode=json_out)
    if json_out:
        result = {**_summary(key), "format": target, "private": private, "out": out}
        if out is None or out == STDIO:
            result["data"] = rendered
        emit_json(result)
    elif out is None or out == STDIO:
        typer.echo(data.decode(), nl=False)
    else:
        console().print(f"[green]wrote[/] {target} to {escape(out)}" + (" (mode 0600)" * private))


def key_is_json(source: str) -> bool:
    """Whether a key file (not stdin) starts with ``{``: a JWK rather than PEM or DER."""
    if source == STDIO:
        return False
    try:
        with open(source, "rb") as fh:
            return fh.read(64).lstrip().startswith(b"{")
    except OSError:
        return False


@app.command(epilog=examples("keywell jwk thumbprint signer-1.pub.jwk --uri"))
def thumbprint(
    source: Annotated[
        str, typer.Argument(metavar="FILE", help="JWK, PEM or DER file, or - for stdin.")
    ],
    hash_name: Annotated[
        str, typer.Option("--hash", metavar="HASH", help="sha256, sha384 or sha512.")
    ] = "sha256",
    uri: Annotated[bool, typer.Option("--uri", help="Print the RFC 9278 URI form.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Print the RFC 7638 thumbprint of a key (of its public members only)."""
    if hash_name not in ("sha256", "sha384", "sha512"):
        die("--hash must be sha256, sha384 or sha512", json_mode=json_out)
    key = key_from_file(source, json_mode=json_out)
    value = key.thumbprint(hash_name)
    as_uri = key.thumbprint_uri(hash_name)
    if json_out:
        emit_json({"kid": key.kid, "hash": hash_name, "thumbprint": value, "uri": as_uri})
    else:
        typer.echo(as_uri if uri else value)


@app.command(
    epilog=examples("keywell jwk public signer-1.jwk --out signer-1.pub.jwk"),
)
def public(
    source: Annotated[
        str, typer.Argument(metavar="FILE", help="JWK, PEM or DER file, or - for stdin.")
    ],
    out: Annotated[
        str | None, typer.Option("--out", "-o", metavar="FILE", help="Write the JWK here.")
    ] = None,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Print the public half of a key as a JWK (private members stripped)."""
    from keywell.errors import KeywellError

    key = key_from_file(source, json_mode=json_out)
    try:
        members = key.to_dict(private=False)
    except KeywellError as exc:
        die(exc.message, json_mode=json_out, code=exc.code)
    if out is not None and out != STDIO:
        save(out, _dump(members), private=False, force=force, json_mode=json_out)
    if json_out:
        emit_json({**_summary(key.public()), "out": out, "jwk": members})
    elif out is None or out == STDIO:
        typer.echo(_dump(members).decode(), nl=False)
    else:
        console().print(f"[green]wrote[/] public JWK to {escape(out)}")
