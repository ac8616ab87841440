"""``keywell keyset``: create, list, show, rotate, revoke, set the policy and custody of key sets.

Every command works on the local store (``--database``, default
``KEYWELL_DATABASE_URL`` or ``sqlite:///keywell.db``; KEKs from
``KEYWELL_KEK``/``KEYWELL_KEKS``/``KEYWELL_KEK_FILE``, else a development KEK
file beside a SQLite database) or, with ``--admin-url URL`` (formerly
``--server``, still accepted, hidden), on a running key server through its
admin API with ``--token`` (or ``KEYWELL_TOKEN``). See
:mod:`keywell.cli.keyset_options`, :mod:`keywell.cli.keyset_backends` and
:mod:`keywell.cli.keyset_view`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from keywell.cli.keyset_options import (
    AdminUrlOpt,
    CustodyOpt,
    DatabaseOpt,
    MaxAgeOpt,
    MaxTtlOpt,
    NameArg,
    PrepublishOpt,
    RotationOpt,
    ServerOpt,
    SkewOpt,
    TokenOpt,
    open_backend,
    policy_values,
)
from keywell.cli.output import EXIT_NOT_DONE, JsonOpt, console, die, emit_json, escape, examples

__all__ = ["app"]

app = typer.Typer(
    help="Manage key sets: keys, rotation, revocation and policy (local store or server).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.command(
    epilog=examples(
        "keywell keyset create api --issuer https://auth.example.com --alg ES256",
        "keywell keyset create api --issuer https://auth.example.com --rotation-period 30d \\",
        "    --prepublish 7d --max-token-ttl 1h --admin-url https://keys.internal --json",
        "keywell keyset create api --issuer https://auth.example.com \\",
        "    --custody 'transit://127.0.0.1:8200/transit?token-file=/run/vault-token'",
    )
)
def create(
    name: NameArg,
    issuer: Annotated[
        str, typer.Option("--issuer", metavar="ISS", help="The iss of the set's tokens.")
    ],
    alg: Annotated[
        str, typer.Option("--alg", metavar="ALG", help="RS256, PS256, ES256, ES384, ES512, EdDSA.")
    ] = "ES256",
    rsa_bits: Annotated[
        int,
        typer.Option(
            "--rsa-bits", metavar="BITS", min=2048, help="RSA modulus size (RS256, PS256)."
        ),
    ] = 2048,
    custody: CustodyOpt = "db",
    rotation_period: RotationOpt = None,
    prepublish: PrepublishOpt = None,
    max_token_ttl: MaxTtlOpt = None,
    jwks_max_age: MaxAgeOpt = None,
    clock_skew: SkewOpt = None,
    database: DatabaseOpt = None,
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    server: ServerOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a key set with an active key and a published successor."""
    from keywell.cli import keyset_view

    policy = policy_values(
        json_out,
        rotation_period=rotation_period,
        prepublish=prepublish,
        max_token_ttl=max_token_ttl,
        jwks_max_age=jwks_max_age,
        clock_skew=clock_skew,
    )
    with open_backend(database, admin_url, token, json_out, server) as backend:
        created = backend.create(name, issuer, alg, policy, rsa_bits, custody)
        shown = keyset_view.shown_out(backend.show(name))
    if json_out:
        emit_json(shown)
        return
    console().print(f"[green]created[/] key set [bold]{escape(created['name'])}[/]")
    keyset_view.render_keyset(shown)


@app.command("list", epilog=examples("keywell keyset list", "keywell keyset list --json"))
def list_(
    database: DatabaseOpt = None,
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    server: ServerOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List the key sets with their algorithm, issuer, version and rotation period."""
    from keywell.cli import keyset_view

    with open_backend(database, admin_url, token, json_out, server) as backend:
        sets = [keyset_view.keyset_out(s) for s in backend.list_sets()]
    if json_out:
        emit_json(sets)
    else:
        keyset_view.render_sets(sets)


@app.command(
    epilog=examples(
        "keywell keyset show api",
        "KEYWELL_TOKEN=kwa_... keywell keyset show api --admin-url https://keys.internal --json",
    )
)
def show(
    name: NameArg,
    database: DatabaseOpt = None,
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    server: ServerOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show a key set, its policy, and every key with its state and timestamps."""
    from keywell.cli import keyset_view

    with open_backend(database, admin_url, token, json_out, server) as backend:
        shown = keyset_view.shown_out(backend.show(name))
    if json_out:
        emit_json(shown)
    else:
        keyset_view.render_keyset(shown)


@app.command(
    epilog=examples(
        "keywell keyset custody api --to 'awskms:region=eu-west-1'",
        "keywell keyset custody api --to db",
    )
)
def custody(
    name: NameArg,
    to: Annotated[
        str,
        typer.Option(
            "--to",
            metavar="URI",
            help="The custody the set's next keys are made in (db, pkcs11:..., "
            "transit://..., awskms:...).",
        ),
    ],
    database: DatabaseOpt = None,
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    server: ServerOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Move a key set's custody: its next pending key is made in the new backend.

    No key leaves its backend: the keys already made stay where they are and
    expire (and are destroyed) there by normal rotation, while the next
    pending key, made in the new custody, takes over at the next rotation.
    """
    from keywell.cli import keyset_view

    with open_backend(database, admin_url, token, json_out, server) as backend:
        backend.set_custody(name, to)
        shown = keyset_view.shown_out(backend.show(name))
    if json_out:
        emit_json(shown)
        return
    console().print(
        f"[green]custody of[/] [bold]{escape(name)}[/] is now {escape(to)}: "
        "its next key is made there"
    )
    keyset_view.render_keyset(shown)


@app.command(
    epilog=examples(
        "keywell keyset rotate api                # planned: the pending key takes over",
        "keywell keyset rotate api --emergency    # now: the pending key takes over at once",
        "keywell keyset rotate api || [ $? -eq 3 ]  # 3: not yet possible, nothing changed",
    )
)
def rotate(
    name: NameArg,
    emergency: Annotated[
        bool,
        typer.Option(
            "--emergency",
            help="Rotate at once: the already-published pending key signs, a new pending key "
            "is created (as when the active key is revoked).",
        ),
    ] = False,
    database: DatabaseOpt = None,
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    server: ServerOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Rotate now: the pending key starts signing once published for --prepublish.

    A planned rotation that is not yet possible changes nothing, says when it
    will be, and exits 3. An emergency rotation does not wait: the active key
    retires, the pending key (already in every verifier's cached JWKS) signs
    at once and a new pending key is published behind it, exactly as when the
    active key is revoked. It warns if the pending key was published less
    than the JWKS max-age ago.
    """
    from keywell.cli import keyset_view

    with open_backend(database, admin_url, token, json_out, server) as backend:
        result = backend.rotate(name, emergency=emergency)
    if result.get("warning"):
        console(stderr=True).print(f"[bold yellow]warning:[/] {escape(result['warning'])}")
    if json_out:
        emit_json(result)
    else:
        keyset_view.render_rotation(result)
    if not result["performed"]:
        raise typer.Exit(EXIT_NOT_DONE)


@app.command(
    epilog=examples(
        "keywell keyset revoke api 3f2a9c --reason 'key leaked in incident 42'",
        "keywell keyset revoke api --kid -Xk2fPq --reason 'rotated out'  # a kid starting with -",
    )
)
def revoke(
    name: NameArg,
    reason: Annotated[
        str, typer.Option("--reason", metavar="TEXT", help="Recorded in the audit log.")
    ],
    kid_arg: Annotated[
        str | None,
        typer.Argument(metavar="KID", help="The key to revoke (or --kid).", show_default=False),
    ] = None,
    kid_opt: Annotated[
        str | None,
        typer.Option("--kid", metavar="KID", help="The key to revoke; safe for a kid starting -."),
    ] = None,
    database: DatabaseOpt = None,
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    server: ServerOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Revoke a key at once: unpublished, its private half destroyed, the reason recorded.

    Revoking the active key hands over to the pending key, as an emergency
    rotation does.
    """
    from keywell.cli import keyset_view

    if (kid_arg is None) == (kid_opt is None):
        die("give the key as KID or --kid KID (exactly one)", json_mode=json_out)
    if not reason.strip():
        die("--reason must not be empty (it is recorded in the audit log)", json_mode=json_out)
    kid = str(kid_arg if kid_opt is None else kid_opt)
    with open_backend(database, admin_url, token, json_out, server) as backend:
        transitions = backend.revoke(name, kid, reason)
    if json_out:
        emit_json(transitions)
    else:
        keyset_view.render_transitions(transitions)


@app.command(
    epilog=examples(
        "keywell keyset policy api",
        "keywell keyset policy api --rotation-period 30d --prepublish 2d \\",
        "    --max-token-ttl 1h --jwks-max-age 1h",
    )
)
def policy(
    name: NameArg,
    rotation_period: RotationOpt = None,
    prepublish: PrepublishOpt = None,
    max_token_ttl: MaxTtlOpt = None,
    jwks_max_age: MaxAgeOpt = None,
    clock_skew: SkewOpt = None,
    database: DatabaseOpt = None,
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    server: ServerOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show a key set's rotation policy, or change the settings given (others are kept).

    jwks_max_age may not exceed prepublish, nor prepublish the rotation
    period. Transitions the new policy makes due happen at once.
    """
    from keywell.cli import keyset_view

    values = policy_values(
        json_out,
        rotation_period=rotation_period,
        prepublish=prepublish,
        max_token_ttl=max_token_ttl,
        jwks_max_age=jwks_max_age,
        clock_skew=clock_skew,
    )
    with open_backend(database, admin_url, token, json_out, server) as backend:
        info = backend.set_policy(name, values) if values else backend.show(name)["keyset"]
        info = keyset_view.keyset_out(info)
    if json_out:
        emit_json({"name": info["name"], "updated": bool(values), "policy": info["policy"]})
    else:
        keyset_view.render_policy(info, updated=bool(values))
