"""``keywell admin-token list`` and ``revoke``: the admin API's tokens in the local store.

``admin-token create`` lives with the server commands
(:mod:`keywell.cli.server_cmds`); these two join its group through
:func:`register`. Both read the store like ``keywell serve`` does
(``--database``, ``KEYWELL_DATABASE_URL`` or ``--config``; KEKs from
``KEYWELL_KEK*``). No secret is ever shown: a token is named by its id, its
label and its fingerprint (12 hex digits of the secret's SHA-256, the
``admin-token:...`` actor of its audit events). The same operations are in
the admin API under ``/admin/v1/admin-tokens`` (:mod:`keywell.server.admin_tokens`),
which ``--admin-url URL`` (with ``--token``) uses instead of the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from keywell.cli.keyset_options import AdminUrlOpt, TokenOpt
from keywell.cli.output import JsonOpt, console, die, emit_json, escape, examples
from keywell.cli.store_options import ConfigOpt, DatabaseOpt

if TYPE_CHECKING:
    from keywell.cli.keyset_backends import RemoteBackend
    from keywell.issuer import Issuer
    from keywell.issuer.admin_tokens import AdminTokenInfo

__all__ = ["list_tokens", "register", "revoke_tokens", "token_dict"]


def _unused_kek(message: str) -> None:
    """Drop the development-KEK warning: these commands decrypt nothing."""


@contextmanager
def _issuer(database: str | None, config: Path | None, json_out: bool) -> Iterator[Issuer]:
    from keywell.cli.keyset_backends import database_url, exit_on_errors, open_issuer
    from keywell.server.config import load_config

    issuer: Issuer | None = None
    try:
        with exit_on_errors(json_out):
            url = database_url(database) if database or not config else None
            cfg = load_config(file=config, database_url=url)
            # listing and revoking tokens opens no private key: no KEK warning
            issuer = open_issuer(cfg.database_url, on_warning=_unused_kek)
            yield issuer
    finally:
        if issuer is not None:
            issuer.close()


@contextmanager
def _remote(admin_url: str, token: str | None, json_out: bool) -> Iterator[RemoteBackend]:
    from keywell.cli.keyset_backends import CommandError, RemoteBackend

    if not token:
        die("--admin-url needs --token or KEYWELL_TOKEN", json_mode=json_out)
    backend: RemoteBackend | None = None
    try:
        backend = RemoteBackend(admin_url, token)
        yield backend
    except CommandError as exc:
        die(exc.message, json_mode=json_out, code=exc.code)
    finally:
        if backend is not None:
            backend.close()


def _with_state(wire: dict[str, Any]) -> dict[str, Any]:
    """The wire form plus its ``state``: valid, expired or revoked."""
    state = "revoked" if wire["revoked"] else "valid" if wire["usable"] else "expired"
    return {**wire, "state": state}


def token_dict(info: AdminTokenInfo) -> dict[str, Any]:
    """A token in the admin API's wire form, with its ``state`` (valid, expired, revoked)."""
    from keywell.issuer.admin_tokens import admin_token_dict

    return _with_state(admin_token_dict(info))


def list_tokens(
    all_: Annotated[
        bool, typer.Option("--all", help="Also show revoked and expired tokens.")
    ] = False,
    database: DatabaseOpt = None,
    config: ConfigOpt = None,
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List admin tokens: id, name, scopes, fingerprint, expiry (never a secret).

    Valid tokens only, unless --all. A token without expiry (made before
    keywell had expiry) shows "never": revoke it and create one with --ttl.
    """
    from keywell.cli.keyset_view import format_time

    if admin_url is not None:
        with _remote(admin_url, token, json_out) as remote:
            every = [_with_state(t) for t in remote.list_admin_tokens()]
    else:
        with _issuer(database, config, json_out) as issuer:
            every = [token_dict(i) for i in issuer.list_admin_tokens()]
    tokens = [t for t in every if all_ or t["usable"]]
    if json_out:
        emit_json(tokens)
        return
    out = console()
    if not tokens:
        out.print("no admin tokens" + ("" if all_ else " in use (--all shows the others)"))
        return
    rows = [
        [
            str(t["id"]),
            t["name"] or "-",
            " ".join(t["scopes"]),
            t["fingerprint"],
            format_time(t["created_at"]),
            format_time(t["expires_at"]) if t["expires_at"] else "never",
            t["state"],
        ]
        for t in tokens
    ]
    headers = ["id", "name", "scopes", "fingerprint", "created", "expires", "state"]
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        line = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        out.print(escape(line))


def revoke_tokens(
    ids: Annotated[
        list[int] | None,
        typer.Argument(metavar="ID", help="Token ids (from admin-token list).", min=1),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", metavar="NAME", help="Revoke every token with this name instead."),
    ] = None,
    database: DatabaseOpt = None,
    config: ConfigOpt = None,
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Revoke admin tokens at once, by id or by name; revoked tokens get 401.

    A server that authenticated the token in the last few seconds
    (auth_cache_ttl) may accept it that much longer. Revoking a revoked token
    is not an error (it counts 0); an unknown id is (exit 2).
    """
    if bool(ids) == (name is not None):
        die("give token ids or --name NAME (one of the two)", json_mode=json_out)
    revoked = 0
    if admin_url is not None:
        if name is not None:
            die("--name works on the local store; give ids with --admin-url", json_mode=json_out)
        with _remote(admin_url, token, json_out) as remote:
            before = {t["id"]: t["revoked"] for t in remote.list_admin_tokens()}
            for token_id in ids or []:
                remote.revoke_admin_token(token_id)
                revoked += 0 if before.get(token_id, True) else 1
    else:
        revoked = _revoke_local(ids or [], name, database, config, json_out)
    if json_out:
        emit_json({"revoked": revoked})
    else:
        console().print(f"revoked {revoked} admin token{'' if revoked == 1 else 's'}")


def _revoke_local(
    ids: list[int], name: str | None, database: str | None, config: Path | None, json_out: bool
) -> int:
    revoked = 0
    with _issuer(database, config, json_out) as issuer:
        if name is not None:
            revoked = issuer.revoke_admin_token(name, actor="cli")
        for token_id in ids:
            revoked += issuer.revoke_admin_token(token_id=token_id, actor="cli")
    return revoked


def register(group: typer.Typer) -> None:
    """Add ``list`` and ``revoke`` to the ``admin-token`` group."""
    group.command(
        "list",
        epilog=examples(
            "keywell admin-token list --database sqlite:///keywell.db",
            "keywell admin-token list --all --json",
        ),
    )(list_tokens)
    group.command(
        "revoke",
        epilog=examples(
            "keywell admin-token revoke 3 4 --database sqlite:///keywell.db",
            "keywell admin-token revoke --name make-run",
        ),
    )(revoke_tokens)
