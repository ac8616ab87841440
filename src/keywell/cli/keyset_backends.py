"""Where ``keywell keyset`` acts: the local store through an Issuer, or a server's admin API.

Both backends return the admin API's wire form (:mod:`keywell.cli.wire`), so
``--json`` output is the same whichever backend produced it. Failures raise
:class:`CommandError` (a stable ``code`` and a message free of secrets) or a
:class:`~keywell.errors.KeywellError`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from keywell.lifecycle.wire import (
    key_dict,
    keyset_dict,
    policy_dict,
    rotation_dict,
    transition_dict,
)

if TYPE_CHECKING:
    import httpx

    from keywell.issuer import Issuer
    from keywell.lifecycle import RotationPolicy
    from keywell.store.kek import KEKRing

__all__ = [
    "POLICY_FIELDS",
    "CommandError",
    "LocalBackend",
    "RemoteBackend",
    "database_url",
    "exit_on_errors",
    "open_issuer",
]

DEFAULT_DATABASE = "sqlite:///keywell.db"
#: The policy settings, in the order they are shown.
POLICY_FIELDS = ("rotation_period", "prepublish", "max_token_ttl", "jwks_max_age", "clock_skew")
_ACTOR = "cli"


class CommandError(Exception):
    """A failure to report: ``code`` is stable, ``message`` holds no secret."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@contextmanager
def exit_on_errors(json_out: bool, *, value_code: str = "usage") -> Iterator[None]:
    """Turn what a store command may raise into one ``error:`` line and exit 2.

    :class:`CommandError` and :class:`~keywell.errors.KeywellError` keep their
    codes; a ``ValueError`` gets ``value_code``; a database error gets
    ``KW_DATABASE`` and the first line of the driver's reason.
    """
    from keywell.cli.output import die
    from keywell.errors import KeywellError
    from keywell.store.engine import DatabaseError

    try:
        yield
    except CommandError as exc:
        die(exc.message, json_mode=json_out, code=exc.code)
    except KeywellError as exc:
        die(exc.message, json_mode=json_out, code=exc.code)
    except ValueError as exc:
        die(str(exc), json_mode=json_out, code=value_code)
    except DatabaseError as exc:
        reason = str(getattr(exc, "orig", None) or type(exc).__name__).splitlines()[0]
        die(f"database error: {reason}", json_mode=json_out, code="KW_DATABASE")


def database_url(value: str | None) -> str:
    """The SQLAlchemy URL: ``value``, else ``KEYWELL_DATABASE_URL``, else ``keywell.db``.

    A value without ``://`` is taken as the path of a SQLite file.
    """
    url = value or os.environ.get("KEYWELL_DATABASE_URL") or DEFAULT_DATABASE
    return url if "://" in url else f"sqlite:///{url}"


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL, or ``None`` for another backend or an in-memory database."""
    from keywell.store.engine import DatabaseError, sqlite_file

    try:
        return sqlite_file(url)
    except DatabaseError:
        raise CommandError("usage", "--database is not a database URL") from None


def open_issuer(
    url: str, *, keks: KEKRing | None = None, on_warning: Callable[[str], None]
) -> Issuer:
    """An Issuer on ``url``; a development-KEK warning goes to ``on_warning``, not to Python."""
    from keywell.issuer import Issuer
    from keywell.store.kek import DevelopmentKEKWarning

    path = sqlite_path(url)
    if path is not None and not path.exists():
        raise CommandError(
            "KW_SCHEMA", f"no database at {path}: run `keywell db upgrade --database {url}` first"
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DevelopmentKEKWarning)
        issuer = Issuer(url, keks=keks)
    for warning in caught:
        on_warning(str(warning.message))
    return issuer


def make_policy(values: dict[str, Any], base: RotationPolicy | None = None) -> RotationPolicy:
    """``base`` (or the defaults) with the settings in ``values`` (seconds) replaced.

    Raises:
        keywell.errors.PolicyError: the result is inconsistent.
    """
    from keywell.lifecycle import RotationPolicy

    changes: dict[str, Any] = {
        k: None if v is None else timedelta(seconds=v) for k, v in values.items()
    }
    return replace(base, **changes) if base is not None else RotationPolicy(**changes)


@dataclass
class LocalBackend:
    """The key store at a database URL, through :class:`keywell.issuer.Issuer`."""

    issuer: Issuer

    def list_sets(self) -> list[dict[str, Any]]:
        """Every key set."""
        return [keyset_dict(i) for i in self.issuer.list_keysets()]

    def create(
        self,
        name: str,
        issuer: str,
        alg: str,
        policy: dict[str, Any],
        rsa_bits: int,
        custody: str = "db",
    ) -> dict[str, Any]:
        """Create a set with an active key and a published successor."""
        made = make_policy(policy) if policy else None
        info = self.issuer.create_keyset(
            name,
            issuer=issuer,
            alg=alg,
            policy=made,
            actor=_ACTOR,
            rsa_bits=rsa_bits,
            custody=custody,
        )
        return keyset_dict(info)

    def set_custody(self, name: str, custody: str) -> dict[str, Any]:
        """Make ``custody`` where the set's next keys are made."""
        return keyset_dict(self.issuer.set_custody(name, custody, actor=_ACTOR))

    def show(self, name: str) -> dict[str, Any]:
        """A set and its keys."""
        info = self.issuer.get_keyset(name)
        return {"keyset": keyset_dict(info), "keys": [key_dict(k) for k in self.issuer.keys(name)]}

    def rotate(self, name: str, *, emergency: bool) -> dict[str, Any]:
        """Rotate now (planned, or emergency)."""
        return rotation_dict(self.issuer.rotate(name, emergency=emergency, actor=_ACTOR))

    def revoke(self, name: str, kid: str, reason: str) -> list[dict[str, Any]]:
        """Revoke one key at once."""
        return [transition_dict(t) for t in self.issuer.revoke(name, kid, reason, actor=_ACTOR)]

    def set_policy(self, name: str, values: dict[str, Any]) -> dict[str, Any]:
        """Change some policy settings, keeping the others."""
        current = self.issuer.get_keyset(name).policy
        info = self.issuer.update_policy(name, make_policy(values, current), actor=_ACTOR)
        return keyset_dict(info)

    def close(self) -> None:
        """Release the database."""
        self.issuer.close()


class RemoteBackend:
    """A running key server's admin API (``/admin/v1``), with a bearer token.

    Plain http is accepted only for a loopback host, so the token never
    crosses a network in the clear; redirects are not followed.
    """

    def __init__(self, server: str, token: str, *, timeout: float = 10.0) -> None:
        """Check the URL; nothing is sent yet."""
        import httpx

        from keywell.client.http import check_url

        try:
            base = check_url(server.rstrip("/"))
        except ValueError as exc:
            raise CommandError("usage", f"--server: {exc}") from None
        self._client = httpx.Client(
            base_url=str(base).rstrip("/") + "/admin/v1",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout,
            follow_redirects=False,
        )

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        import httpx

        try:
            r = self._client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise CommandError(
                "KW_CONNECTION", f"cannot reach {self._client.base_url}: {type(exc).__name__}"
            ) from None
        if r.is_success:
            return r.json()
        raise _problem(r)

    def list_sets(self) -> list[dict[str, Any]]:
        """Every key set."""
        return list(self._call("GET", "/keysets"))

    def create(
        self,
        name: str,
        issuer: str,
        alg: str,
        policy: dict[str, Any],
        rsa_bits: int,
        custody: str = "db",
    ) -> dict[str, Any]:
        """Create a set (the server picks RSA sizes itself)."""
        if rsa_bits != 2048:
            raise CommandError("usage", "--rsa-bits works only on the local store")
        body: dict[str, Any] = {"name": name, "issuer": issuer, "alg": alg, "custody": custody}
        if policy:
            defaults = policy_dict(make_policy({}))
            body["policy"] = {**defaults, **policy}
        return dict(self._call("POST", "/keysets", body))

    def show(self, name: str) -> dict[str, Any]:
        """A set and its keys."""
        path = f"/keysets/{quote(name, safe='')}"
        return {"keyset": self._call("GET", path), "keys": self._call("GET", path + "/keys")}

    def rotate(self, name: str, *, emergency: bool) -> dict[str, Any]:
        """Rotate now (planned, or emergency)."""
        path = f"/keysets/{quote(name, safe='')}/rotate"
        return dict(self._call("POST", path, {"emergency": emergency}))

    def revoke(self, name: str, kid: str, reason: str) -> list[dict[str, Any]]:
        """Revoke one key at once."""
        path = f"/keysets/{quote(name, safe='')}/keys/{quote(kid, safe='')}/revoke"
        return list(self._call("POST", path, {"reason": reason}))

    def set_policy(self, name: str, values: dict[str, Any]) -> dict[str, Any]:
        """Change some policy settings, keeping the others."""
        path = f"/keysets/{quote(name, safe='')}"
        current = self._call("GET", path)["policy"]
        return dict(self._call("PUT", path + "/policy", {**current, **values}))

    def set_custody(self, name: str, custody: str) -> dict[str, Any]:
        """Make ``custody`` where the set's next keys are made."""
        path = f"/keysets/{quote(name, safe='')}/custody"
        return dict(self._call("PUT", path, {"custody": custody}))

    def list_admin_tokens(self) -> list[dict[str, Any]]:
        """Every admin token (``/admin-tokens``; never a secret)."""
        return list(self._call("GET", "/admin-tokens"))

    def revoke_admin_token(self, token_id: int) -> dict[str, Any]:
        """Revoke one admin token by id; its wire form afterwards."""
        return dict(self._call("POST", f"/admin-tokens/{int(token_id)}/revoke"))

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


def _problem(r: httpx.Response) -> CommandError:
    """The server's RFC 9457 problem as a CommandError (its detail is the server's own text)."""
    try:
        doc = r.json()
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("detail"), str):
        code = doc.get("code") if isinstance(doc.get("code"), str) else f"HTTP_{r.status_code}"
        return CommandError(str(code), f"server: {doc['detail']} (HTTP {r.status_code})")
    return CommandError(f"HTTP_{r.status_code}", f"server answered HTTP {r.status_code}")
