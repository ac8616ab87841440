"""``make run``: the key server for development, on ``127.0.0.1:8080`` unless told.

``python -m keywell.server.devrun [--host H] [--port N] [--server granian|uvicorn]``;
``KEYWELL_HOST``, ``KEYWELL_PORT`` and ``KEYWELL_SERVER`` are honoured when
the option is not given (an option wins over the variable).

SQLite ``./keywell.db`` (``KEYWELL_DEV_DB``); a development KEK in
``./keywell.db.kek`` (0600, created once, one warning in words); a
``default`` ES256 key set created if missing, its issuer the server's base
URL; an admin token with all scopes valid for 24 hours on every run. A second
run reuses the database, the KEK and the keys; when it listens elsewhere, the
set's issuer follows the address bound if devrun made it for a loopback
address (audited ``update_issuer``; any other issuer is kept, with a warning).
The address is bound before anything is written (port 0 is resolved first):
a busy address or a bad port is one ``error:`` line and exit status 2. Prints the issuer and the
discovery URL that :meth:`RemoteJWKSet.from_issuer` fetches for it (OpenID
Connect Discovery 1.0 section 4.1, the rule of
:func:`keywell.client.discovery.metadata_urls`), which token it created and
how to revoke the earlier ones, a ``curl`` line that mints a token with an
audience and the ``keywell token verify`` line that checks it; then serves
until Ctrl-C or SIGTERM. granian's workers open their own Issuer from the
environment, so the development KEK reaches them as ``KEYWELL_KEK_FILE``.

Imports: ``keywell[server]`` and ``keywell.client.discovery`` (httpx, the
``client`` extra); the printed commands need ``keywell[cli]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import warnings
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from keywell.errors import KeySetNotFoundError
from keywell.server.config import load_config
from keywell.server.runner import serve

if TYPE_CHECKING:
    from keywell.issuer import Issuer
    from keywell.lifecycle.states import KeySetInfo

__all__ = ["DEV_AUDIENCE", "DEV_TOKEN_TTL", "main"]

#: The audience of the tokens the printed ``curl`` line mints.
DEV_AUDIENCE = "keywell-dev"
#: How long the development admin token is valid.
DEV_TOKEN_TTL = timedelta(hours=24)
_TOKEN_NAME = "make-run"  # noqa: S105 - a label, not a secret
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m keywell.server.devrun",
        description="The keywell key server for development (see `make run`).",
    )
    parser.add_argument("--host", default=None, help="listen address (env KEYWELL_HOST)")
    parser.add_argument(
        "--port", default=None, help="listen port, 0 for a free one (env KEYWELL_PORT)"
    )
    parser.add_argument(
        "--server", choices=("granian", "uvicorn"), default=None, help="env KEYWELL_SERVER"
    )
    return parser


def _open_development(database_url: str, db: Path) -> Issuer:
    """The Issuer on the configured KEKs, else on the development KEK file beside ``db``.

    The file is created by the Issuer only once the store is known to need no
    other KEK (nothing is written when the open fails); its warning is shown
    once, in words.
    """
    from keywell.issuer import Issuer
    from keywell.store.kek import DevelopmentKEKWarning, KEKRing

    keks = KEKRing.from_env()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DevelopmentKEKWarning)
        issuer = Issuer(database_url, keks=keks, auto_upgrade=True)
    for message in dict.fromkeys(str(w.message) for w in caught):
        print(f"warning: {message}", file=sys.stderr)
    kek_file = db.with_name(db.name + ".kek")
    if keks is None and kek_file.is_file():
        os.environ["KEYWELL_KEK_FILE"] = str(kek_file)  # for the server's worker processes
    return issuer


def _token_lines(issuer: Issuer, token: str, db_url: str) -> str:
    """Which admin token was created, and how to revoke the earlier ones still valid."""
    from keywell.lifecycle.durations import format_duration

    made = issuer.admin_token_info(token)
    if made is None:  # pragma: no cover - just created in this store
        raise RuntimeError("the development admin token was not stored")
    expires = f"{made.expires_at:%Y-%m-%dT%H:%M:%SZ}" if made.expires_at else "never"
    lines = [
        f"  admin token #{made.id} ({_TOKEN_NAME}, all scopes, valid "
        f"{format_duration(DEV_TOKEN_TTL)} until {expires}; shown once):",
        f"    {token}",
    ]
    older = [
        t.id
        for t in issuer.list_admin_tokens()
        if t.name == _TOKEN_NAME and t.usable and t.id != made.id
    ]
    if older:
        ids = " ".join(str(i) for i in older)
        lines += [
            f"  earlier {_TOKEN_NAME} tokens still valid: {ids}; revoke them with:",
            f"    keywell admin-token revoke {ids} --database {db_url}",
        ]
    else:
        lines.append(f"  list admin tokens: keywell admin-token list --database {db_url}")
    return "\n".join(lines)


def _port(args: argparse.Namespace) -> int:
    """The port from ``--port`` or ``KEYWELL_PORT`` (default 8080), 0-65535.

    Raises:
        ValueError: not a whole number in that range (the message names where it came from).
    """
    if args.port is not None:
        raw, where = str(args.port), "--port"
    else:
        raw, where = os.environ.get("KEYWELL_PORT", "8080"), "KEYWELL_PORT"
    if not (raw.isascii() and raw.isdigit()) or int(raw) > 65535:
        raise ValueError(f"{where} must be a port number from 0 to 65535, not {raw!r}")
    return int(raw)


def _is_dev_issuer(url: str) -> bool:
    """Whether ``url`` is a loopback ``http://host:port`` issuer such as devrun makes."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return False
    return (
        parts.scheme == "http"
        and parts.hostname in _LOOPBACK
        and port is not None
        and parts.path in ("", "/")
        and not (parts.query or parts.fragment or parts.username)
    )


def _follow_address(issuer: Issuer, name: str, base: str) -> KeySetInfo:
    """Point the development set's issuer at ``base`` if devrun made it for another address.

    Only a set whose issuer is a loopback ``http://host:port`` and whose
    ``create_keyset`` event is devrun's (actor ``devrun``; ``system`` for sets
    made before devrun named itself) follows; the change is audited
    (``update_issuer`` by ``devrun``) and bumps the set's version. Any other
    set is left as it is (the caller warns).
    """
    info = issuer.get_keyset(name)
    if info.issuer == base or not _is_dev_issuer(info.issuer):
        return info
    made = [e for e in issuer.history(name, limit=10_000) if e.action == "create_keyset"]
    if not made or made[-1].actor not in ("devrun", "system"):
        return info
    return issuer.update_issuer(
        name,
        base,
        actor="devrun",
        reason=f"development server moved from {info.issuer} to {base}",
    )


def main(argv: list[str] | None = None) -> None:
    """Prepare the development database and serve it; exit 2 with one line on bad input.

    The address is bound first (port 0 resolved), before any token or key is
    written: a busy address or a bad port prints ``error: ...`` and exits 2.
    """
    from keywell.errors import KeywellError

    args = _parser().parse_args(argv)
    try:
        _prepare_and_serve(args)
    except (KeywellError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _prepare_and_serve(args: argparse.Namespace) -> None:
    from keywell.client.discovery import metadata_urls
    from keywell.server.auth import SCOPES
    from keywell.server.listeners import bind_listener

    db = Path(os.environ.get("KEYWELL_DEV_DB", "keywell.db")).resolve()
    host = args.host or os.environ.get("KEYWELL_HOST") or "127.0.0.1"
    config = load_config(
        database_url=f"sqlite:///{db}",
        host=host,
        port=_port(args),
        auto_upgrade=True,
        server=args.server,
    )
    listener = bind_listener(config.host, config.port, config.backlog)
    try:
        config = dataclasses.replace(config, port=int(listener.getsockname()[1]))
        issuer = _open_development(config.database_url, db)
    except BaseException:
        listener.close()
        raise
    base = config.base_url
    name = config.default_keyset
    try:
        info = _follow_address(issuer, name, base)
        state = "reused"
    except KeySetNotFoundError:
        info = issuer.create_keyset(name, issuer=base, alg="ES256", actor="devrun")
        state = "created"
    token = issuer.create_admin_token(
        sorted(SCOPES), name=_TOKEN_NAME, actor="devrun", ttl=DEV_TOKEN_TTL
    )
    iss = info.issuer
    discovery = metadata_urls(iss, allow_http=True)[0]
    if iss != base:
        print(
            f"warning: the {name!r} key set's issuer is {iss} (made by an earlier run "
            f"elsewhere), not {base}: discovery from that issuer does not reach this server; "
            "start on the same address, or set KEYWELL_DEV_DB to a new file",
            file=sys.stderr,
        )
    mint = f"{base}/admin/v1/keysets/{name}/tokens"
    console = (
        f"  console:    {base}/console  (log in with the admin token below)\n"
        if config.console
        else ""
    )
    claims = f'{{"claims": {{"sub": "alice", "aud": "{DEV_AUDIENCE}"}}, "ttl": 300}}'
    print(
        f"""
keywell development server ({state} {db})
  issuer:     {iss}
  discovery:  {discovery}
  JWKS:       {base}/.well-known/jwks.json
{console}  admin API:  {base}/admin/v1/openapi.json
  metrics:    {base}/metrics
{_token_lines(issuer, token, config.database_url)}
  mint a token and verify it:
    TOKEN=$(curl -s -X POST -H 'Authorization: Bearer {token}' \\
      -H 'Content-Type: application/json' -d '{claims}' \\
      {mint} | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
    keywell token verify "$TOKEN" --issuer {iss} --audience {DEV_AUDIENCE}
""",
        flush=True,
    )
    serve(config, issuer=issuer, listener=listener)


if __name__ == "__main__":
    main()
