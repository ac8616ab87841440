"""Custody URIs: which backend holds a key set's private keys, and where its credential is.

The forms (in the style of step-ca's KMS URIs and RFC 7512 PKCS#11 URIs)::

    db                                                    sealed in keywell's database (default)
    pkcs11:token=NAME;object-prefix=P?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin
    transit://127.0.0.1:8200/transit?token-file=/run/vault-token
    awskms:region=eu-west-1?endpoint=http://127.0.0.1:5000

Path attributes are separated by ``;``, query attributes by ``&``; values are
percent-decoded. Every scheme accepts ``timeout=SECONDS`` (per backend call,
default 5). A credential is named by where it lives (``file:PATH`` or
``env:NAME``), never given inline: ``pin-value`` and the like are refused, so
a URI (stored in the database, shown by ``keyset show``) never holds a secret.
"""

from __future__ import annotations

import importlib
import ipaddress
import math
import os
import re
import threading
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

from keywell.custody.base import Custody
from keywell.errors import CustodyError, InvalidInputError

__all__ = ["DB", "CustodySpec", "close_all", "open_custody", "parse_custody", "read_credential"]

DB = "db"
DEFAULT_TIMEOUT = 5.0
_MAX_URI = 2000
_MAX_CREDENTIAL = 64 * 1024
# Attribute names that would carry a credential inline (RFC 7512 pin-value and kin).
_INLINE_SECRETS = frozenset({"pin", "token", "secret", "password", "access-key", "secret-key"})
_USERINFO = "a user or password in the URI would put a credential in it; name a file or variable"
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?")
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class _Scheme:
    module: str  # keywell.custody.<module>, imported on first use
    cls: str
    extra: str  # the pip extra that brings the client library
    path_attrs: frozenset[str]
    query_attrs: frozenset[str]
    required: frozenset[str]
    authority: bool = False  # transit://host:port/mount


_SCHEMES = {
    "pkcs11": _Scheme(
        "pkcs11",
        "PKCS11Custody",
        "pkcs11",
        frozenset({"token", "object-prefix", "slot-id", "serial", "manufacturer", "model"}),
        frozenset({"module-path", "pin-source", "timeout"}),
        frozenset({"token", "module-path", "pin-source"}),
    ),
    "transit": _Scheme(
        "transit",
        "TransitCustody",
        "vault",
        frozenset(),
        frozenset({"token-file", "token-env", "ca-file", "namespace", "timeout"}),
        frozenset(),
        authority=True,
    ),
    "awskms": _Scheme(
        "awskms",
        "AWSKMSCustody",
        "awskms",
        frozenset({"region"}),
        frozenset({"endpoint", "profile", "timeout"}),
        frozenset({"region"}),
    ),
}


@dataclass(frozen=True)
class CustodySpec:
    """A parsed custody URI.

    ``attrs`` holds the path attributes (for ``transit``: ``host``, ``port`` and
    ``mount``), ``query`` the query attributes, both percent-decoded;
    ``timeout`` is the per-call bound in seconds; ``uri`` is the canonical form.
    """

    scheme: str
    uri: str
    timeout: float = DEFAULT_TIMEOUT
    attrs: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)


def _pairs(text: str, sep: str, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split(sep) if text else []:
        name, eq, value = part.partition("=")
        if not eq or not name:
            raise _bad(f"{what} attribute {part!r} is not name=value")
        if name in out:
            raise _bad(f"{name!r} is named twice")
        out[name] = unquote(value, errors="strict")
    return out


def _bad(message: str) -> InvalidInputError:
    return InvalidInputError(f"custody URI: {message}", field="custody")


def parse_custody(uri: str) -> CustodySpec:
    """Parse and check a custody URI (see the module docstring for the forms).

    Raises:
        InvalidInputError: unknown scheme or attribute, a required attribute
            missing, an inline credential, or a bad ``timeout``.
    """
    if not isinstance(uri, str) or not uri or len(uri) > _MAX_URI or not uri.isprintable():
        raise _bad("expected a non-empty printable string of at most 2000 characters")
    if uri == DB:
        return CustodySpec(DB, DB)
    scheme_name, colon, rest = uri.partition(":")
    scheme = _SCHEMES.get(scheme_name)
    if not colon or scheme is None:
        raise _bad(f"unknown scheme {scheme_name!r} (use db, {', '.join(_SCHEMES)})")
    path, _, query_text = rest.partition("?")
    try:
        query = _pairs(query_text, "&", "query")
        attrs = _authority(path) if scheme.authority else _pairs(path, ";", "path")
    except UnicodeDecodeError:
        raise _bad("percent-encoding is not UTF-8") from None
    inline = [n for n in query if n.endswith("-value") or n in _INLINE_SECRETS]
    inline += [n for n in attrs if n.endswith("-value") or n in _INLINE_SECRETS - {"token"}]
    for name in inline:
        raise _bad(f"{name!r} would put a credential in the URI; name a file or variable")
    for name, value in (*attrs.items(), *query.items()):
        _no_userinfo(name, value)
    unknown = (set(attrs) - scheme.path_attrs - {"host", "port", "mount"}) | (
        set(query) - scheme.query_attrs
    )
    if unknown:
        allowed = sorted(scheme.path_attrs | scheme.query_attrs)
        raise _bad(
            f"unknown attribute {sorted(unknown)[0]!r} for {scheme_name} (allowed: {allowed})"
        )
    missing = scheme.required - set(attrs) - set(query)
    if missing:
        raise _bad(f"{scheme_name} needs {sorted(missing)[0]!r}")
    timeout = _timeout(query.get("timeout"))
    return CustodySpec(
        scheme_name, _canonical(scheme_name, scheme, attrs, query), timeout, attrs, query
    )


def _authority(path: str) -> dict[str, str]:
    if not path.startswith("//"):
        raise _bad("transit needs transit://host:port/mount")
    hostport, _, mount = path[2:].partition("/")
    if "@" in hostport:
        raise _bad(_USERINFO)
    if hostport.startswith("[") and "]" in hostport:  # [IPv6]:port
        host, _, rest = hostport.partition("]")
        host, port = host + "]", rest[1:] if rest.startswith(":") else ("" if rest else "8200")
    else:
        host, _, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "8200")
    mount = unquote(mount.strip("/"), errors="strict")
    if not _host_ok(host) or not port.isdigit() or not 0 < int(port) < 65536:
        raise _bad("transit needs transit://host:port/mount (a DNS name, IPv4 or [IPv6] host)")
    if not mount or not all(_SEGMENT.fullmatch(part) for part in mount.split("/")):
        raise _bad("a transit mount is path segments of letters, digits, '.', '_' and '-'")
    return {"host": host, "port": str(int(port)), "mount": mount}


def _host_ok(host: str) -> bool:
    """A DNS name, an IPv4 literal or a bracketed IPv6 literal: nothing else a URL could hold."""
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return True
    return len(host) <= 253 and all(_LABEL.fullmatch(label) for label in host.split("."))


def _no_userinfo(name: str, value: str) -> None:
    """Refuse a URL value (``endpoint=``) carrying a user or password, without echoing it."""
    if "://" not in value:
        return
    try:
        parts = urlsplit(value)
        userinfo = parts.username is not None or parts.password is not None
    except ValueError:
        raise _bad(f"{name!r} is not a URL") from None
    if userinfo or "@" in parts.netloc:
        raise _bad(f"{name!r}: {_USERINFO}")


def _timeout(text: str | None) -> float:
    if text is None:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= 300:
        raise _bad("timeout must be a number of seconds in (0, 300]")
    return value


def _canonical(name: str, scheme: _Scheme, attrs: dict[str, str], query: dict[str, str]) -> str:
    def enc(items: dict[str, str], sep: str) -> str:
        return sep.join(f"{k}={quote(v, safe='/:@.-_~')}" for k, v in items.items())

    if scheme.authority:
        head = f"{name}://{attrs['host']}:{attrs['port']}/{quote(attrs['mount'], safe='/')}"
    else:
        head = f"{name}:{enc(attrs, ';')}"
    return f"{head}?{enc(query, '&')}" if query else head


def read_credential(source: str, *, backend: str) -> str:
    """The credential at ``file:PATH`` or ``env:NAME`` (trailing newline stripped).

    Raises:
        CustodyError: (operation ``open``) the source is missing, empty or over
            64 KiB; the message names the source, never its content.
    """
    kind, _, where = source.partition(":")
    value: str | None
    if kind == "env":
        value = os.environ.get(where)
    elif kind == "file":
        try:
            with open(where, "rb") as handle:
                data = handle.read(_MAX_CREDENTIAL + 1)
        except OSError as exc:
            raise CustodyError(
                f"{backend} custody: cannot read the credential file {where!r}: {exc.strerror}",
                backend=backend,
                operation="open",
            ) from None
        value = None if len(data) > _MAX_CREDENTIAL else data.decode("utf-8", "replace")
    else:
        raise CustodyError(
            f"{backend} custody: a credential source is file:PATH or env:NAME",
            backend=backend,
            operation="open",
        )
    value = value.rstrip("\r\n") if value is not None else None
    if not value:
        raise CustodyError(
            f"{backend} custody: no credential at {source!r} (missing, empty or too large)",
            backend=backend,
            operation="open",
        )
    return value


_open: dict[str, Custody] = {}
_open_lock = threading.Lock()


def open_custody(uri: str) -> Custody | None:
    """The shared :class:`Custody` for ``uri`` (``None`` for ``db``), opened once per process.

    Raises:
        InvalidInputError: the URI is malformed.
        CustodyError: the backend's extra is not installed, or opening it failed.
    """
    spec = parse_custody(uri)
    if spec.scheme == DB:
        return None
    with _open_lock:
        found = _open.get(spec.uri)
        if found is not None:
            return found
        scheme = _SCHEMES[spec.scheme]
        try:
            module = importlib.import_module(f"keywell.custody.{scheme.module}")
        except ImportError as exc:
            raise CustodyError(
                f"{spec.scheme} custody needs keywell[{scheme.extra}] ({exc.name} is missing)",
                backend=spec.scheme,
                operation="open",
            ) from None
        custody: Custody = getattr(module, scheme.cls).from_spec(spec)
        _open[spec.uri] = custody
        return custody


def close_all() -> None:
    """Close every custody opened by :func:`open_custody` (tests, server shutdown)."""
    with _open_lock:
        found = list(_open.values())
        _open.clear()
    for custody in found:
        custody.close()
