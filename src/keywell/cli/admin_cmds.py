"""``keywell kek`` and ``keywell db``: key-encryption keys and the database schema.

Private keys are stored sealed (AES-256-GCM) under a KEK (see
:mod:`keywell.store.kek`). Several KEKs can be configured at once, newest
last; the store names the KEK that seals new keys, older ones still open what
they sealed, and ``kek rotate`` makes the newest the store's sealing KEK and
re-seals everything under it so the old KEK can be removed.
"""

from __future__ import annotations

from typing import Annotated

import typer

from keywell.cli.output import JsonOpt, console, die, emit_json, escape, examples
from keywell.cli.store_options import DatabaseOpt

__all__ = ["db_app", "kek_app"]

_KEK_HELP = """\
Key-encryption keys (KEKs) that seal the private keys at rest.

\b
KEKs come from the environment, newest last:
  KEYWELL_KEK       one KEK: base64url of 32 bytes (id from KEYWELL_KEK_ID,
                    else derived from the key)
  KEYWELL_KEKS      several as id:key pairs separated by commas, oldest first
  KEYWELL_KEK_FILE  a file with one key, or id:key lines, oldest first
Without any, a development KEK file is kept beside a SQLite database.

\b
The store names the KEK that seals new keys; a KEK it does not know is ignored
until keywell kek rotate introduces it. To replace a KEK: generate a new one
(keywell kek generate), configure both with the new one last, run keywell kek
rotate (the new KEK then seals, everything is re-sealed), then remove the old
one. A retired KEK never seals again. A store
sealed under KEYWELL_KEK without KEYWELL_KEK_ID uses a derived id (k-...): name the
old KEK by that id; an error names any KEK id that is needed but missing.
"""

kek_app = typer.Typer(help=_KEK_HELP, no_args_is_help=True, rich_markup_mode=None)
db_app = typer.Typer(
    help="The key store's database schema.", no_args_is_help=True, rich_markup_mode=None
)


@kek_app.command(
    epilog=examples(
        "keywell kek rotate --database sqlite:///keywell.db",
        "    # with both KEKs configured, newest last, e.g.",
        "    # KEYWELL_KEKS=old:$OLD_KEK,new:$NEW_KEK",
    )
)
def rotate(database: DatabaseOpt = None, json_out: JsonOpt = False) -> None:
    """Make the newest configured KEK the sealing KEK and re-seal every key under it.

    One transaction. The newest KEK must be new to the store, or already its
    sealing KEK: a retired KEK is refused.

    Every KEK that sealed a stored key must still be configured; if one is
    missing nothing is changed and its id is named.
    """
    from keywell.cli.keyset_backends import CommandError, database_url, open_issuer
    from keywell.errors import KeywellError
    from keywell.store.engine import DatabaseError
    from keywell.store.kek import KEKRing

    try:
        ring = KEKRing.from_env()
        if ring is None:
            die(
                "no KEK configured: set KEYWELL_KEKS=old-id:key,new-id:key (newest last), "
                "KEYWELL_KEK or KEYWELL_KEK_FILE",
                json_mode=json_out,
                code="KW_KEK",
            )
        issuer = open_issuer(database_url(database), keks=ring, on_warning=lambda _: None)
        try:
            count = issuer.rewrap(actor="cli")
        finally:
            issuer.close()
    except CommandError as exc:
        die(exc.message, json_mode=json_out, code=exc.code)
    except KeywellError as exc:
        die(exc.message, json_mode=json_out, code=exc.code)
    except DatabaseError as exc:
        die(f"database error: {type(exc).__name__}", json_mode=json_out, code="KW_DATABASE")
    if json_out:
        emit_json({"rewrapped": count, "kek_id": ring.newest, "configured": list(ring.ids)})
        return
    out = console()
    out.print(f"[green]re-sealed[/] {count} key(s) under KEK [bold]{escape(ring.newest)}[/]")
    others = [i for i in ring.ids if i != ring.newest]
    if others:
        out.print(f"no stored key needs {', '.join(others)} any more; it can be removed")


@kek_app.command(
    epilog=examples(
        "keywell kek generate >> /run/secrets/keks    # then list it last",
        "keywell kek generate --id kek-2025 --json",
    )
)
def generate(
    kek_id: Annotated[
        str | None, typer.Option("--id", metavar="ID", help="Default: derived from the key.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Print a new random KEK as an id:key line (for KEYWELL_KEKS or KEYWELL_KEK_FILE)."""
    import secrets

    from keywell.jose.base64url import b64url_encode
    from keywell.store.kek import derive_kek_id

    if kek_id is not None and (not kek_id or ":" in kek_id or "," in kek_id):
        die("--id must be non-empty, without ':' or ','", json_mode=json_out)
    key = secrets.token_bytes(32)
    kid = kek_id or derive_kek_id(key)
    if json_out:
        emit_json({"id": kid, "key": b64url_encode(key)})
    else:
        typer.echo(f"{kid}:{b64url_encode(key)}")


@db_app.command(
    epilog=examples(
        "keywell db upgrade --database sqlite:///keywell.db",
        "keywell db upgrade --database postgresql+psycopg://keywell@db/keywell --json",
    )
)
def upgrade(database: DatabaseOpt = None, json_out: JsonOpt = False) -> None:
    """Create the key store's tables, or apply pending migrations (safe to run again)."""
    from keywell.cli.keyset_backends import database_url, exit_on_errors, sqlite_path
    from keywell.store import head_revision
    from keywell.store import upgrade as run_upgrade

    url = database_url(database)
    with exit_on_errors(json_out):
        path = sqlite_path(url)
        if path is not None and not path.parent.is_dir():
            die(f"{path.parent} is not a directory", json_mode=json_out, code="file")
        run_upgrade(url)
    head = head_revision()
    if json_out:
        emit_json({"revision": head})
    else:
        console().print(f"[green]database at revision[/] {escape(head)} (latest)")
