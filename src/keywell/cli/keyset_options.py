"""What every ``keywell keyset`` command shares: its options, and opening its backend.

The options (``--database``, ``--admin-url`` with its hidden old spelling
``--server``, ``--token``, the policy durations) are declared once here, so
every command spells and documents them alike; :func:`open_backend` turns
them into a :mod:`keywell.cli.keyset_backends` backend and reports any
failure as a typed error (exit 2).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from keywell.cli.output import die, warn
from keywell.cli.store_options import DatabaseOpt

if TYPE_CHECKING:
    from keywell.cli.keyset_backends import LocalBackend, RemoteBackend

__all__ = [
    "AdminUrlOpt",
    "CustodyOpt",
    "DatabaseOpt",
    "MaxAgeOpt",
    "MaxTtlOpt",
    "NameArg",
    "PrepublishOpt",
    "RotationOpt",
    "ServerOpt",
    "SkewOpt",
    "TokenOpt",
    "open_backend",
    "policy_values",
]

AdminUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--admin-url",
        metavar="URL",
        envvar="KEYWELL_ADMIN_URL",
        show_envvar=True,
        help="Act on a running key server's admin API (its base URL) instead.",
    ),
]
#: The old spelling of --admin-url (``serve --server`` names the HTTP server): hidden.
ServerOpt = Annotated[str | None, typer.Option("--server", metavar="URL", hidden=True)]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token",
        metavar="TOKEN",
        envvar="KEYWELL_TOKEN",
        show_envvar=True,
        help="Admin API token for --admin-url (prefer the environment variable).",
    ),
]
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The key set's name.")]


def _duration(flag: str) -> Any:
    return typer.Option(flag, metavar="DURATION", help="30s, 15m, 1h, 30d or 1h30m.")


RotationOpt = Annotated[str | None, _duration("--rotation-period")]
PrepublishOpt = Annotated[str | None, _duration("--prepublish")]
MaxTtlOpt = Annotated[str | None, _duration("--max-token-ttl")]
MaxAgeOpt = Annotated[str | None, _duration("--jwks-max-age")]
SkewOpt = Annotated[str | None, _duration("--clock-skew")]
CustodyOpt = Annotated[
    str,
    typer.Option(
        "--custody",
        metavar="URI",
        help="Where the private keys live: db (sealed in the store) or an HSM/KMS URI "
        "(pkcs11:..., transit://host:port/mount?token-file=..., awskms:region=...).",
    ),
]


@contextmanager
def open_backend(
    database: str | None,
    admin_url: str | None,
    token: str | None,
    json_out: bool,
    server: str | None = None,
) -> Iterator[LocalBackend | RemoteBackend]:
    """Open the backend; report any failure (typed code, exit 2) and close it afterwards.

    ``server`` is the deprecated spelling of ``admin_url``.
    """
    from keywell.cli import keyset_backends as kb

    if server is not None:
        if admin_url is not None and admin_url != server:
            die("give --admin-url only (--server is its old name)", json_mode=json_out)
        warn("--server is deprecated for keyset commands: use --admin-url")
        admin_url = server
    backend: LocalBackend | RemoteBackend | None = None
    try:
        with kb.exit_on_errors(json_out, value_code="KW_INVALID_REQUEST"):
            if admin_url is not None:
                if not token:
                    die("--admin-url needs --token or KEYWELL_TOKEN", json_mode=json_out)
                backend = kb.RemoteBackend(admin_url, token)
            else:
                issuer = kb.open_issuer(kb.database_url(database), on_warning=warn)
                backend = kb.LocalBackend(issuer)
            yield backend
    finally:
        if backend is not None:
            backend.close()


def policy_values(json_out: bool, **given: str | None) -> dict[str, int]:
    """The durations given (``--rotation-period 30d`` ...) in seconds; a bad one exits 2."""
    from keywell.cli.params import parse_duration

    values: dict[str, int] = {}
    for name, text in given.items():
        if text is not None:
            if name == "clock_skew" and text.strip() in ("0", "0s"):
                values[name] = 0
                continue
            try:
                values[name] = parse_duration(text)
            except ValueError as exc:
                die(f"--{name.replace('_', '-')}: {exc}", json_mode=json_out)
    return values
