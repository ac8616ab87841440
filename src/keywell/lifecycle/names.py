"""The input rules of the key-set domain: key-set names, kids, issuer URLs, reasons.

One home for each rule, used by the Issuer, the admin API models, its path
handlers and the public endpoints alike, so the library and the server cannot
disagree (a rule written twice drifted before: the admin API allowed 64
characters where the library allowed 100). Every check either returns its
argument unchanged or raises :class:`~keywell.errors.InvalidInputError`
(also a ``ValueError``) whose message names the rule, never the refused value.

- **Key-set name**: 1-100 characters of ``A-Z a-z 0-9 . _ -``, starting with
  a letter or digit (so never ``.``, ``..``, a slash or a control character;
  it is safe in a URL path segment and a file name).
- **kid** (RFC 7515 section 4.1.4, a case-sensitive string): 1-256 printable
  characters (``str.isprintable``: no C0/C1 control, DEL, lone surrogate,
  bidirectional override or other format character).
- **Issuer** (RFC 8414 section 2, OpenID Connect Discovery 1.0 section 3): an
  ``https`` URL with a host and no user-info, query or fragment, at most
  2048 characters of printable ASCII without spaces; ``http`` only when the
  host is loopback (``localhost``, ``127.0.0.0/8``, ``::1``) for development.
- **Reason** (recorded in the audit log): 1-500 printable characters, not
  only spaces.
- **Label** (an audit ``actor``, an admin token's ``name``): at most 200
  printable characters (an actor at least one).

Lookups apply the same rules the other way round: :func:`known_name` and
:func:`known_kid` (called by every lookup of :class:`keywell.store.Store`)
answer "no such key set" / "no such key" for a value that breaks its rule,
since no stored set or key can have it.

These are the characters PostgreSQL and SQLite store alike: text with a NUL
(or a lone surrogate, which UTF-8 cannot encode) never reaches a driver.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from keywell.errors import InvalidInputError, KeyNotFoundError, KeySetNotFoundError

__all__ = [
    "ISSUER_MAX",
    "KEYSET_NAME_MAX",
    "KEYSET_NAME_PATTERN",
    "KID_MAX",
    "LABEL_MAX",
    "REASON_MAX",
    "check_issuer",
    "check_keyset_name",
    "check_kid",
    "check_label",
    "check_reason",
    "is_keyset_name",
    "is_kid",
    "is_label",
    "is_loopback",
    "known_kid",
    "known_name",
]

KEYSET_NAME_MAX = 100
KID_MAX = 256
ISSUER_MAX = 2048
REASON_MAX = 500
LABEL_MAX = 200
KEYSET_NAME_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{KEYSET_NAME_MAX - 1}}}$"
_NAME = re.compile(KEYSET_NAME_PATTERN)
# RFC 3986 section 2: unreserved, reserved and "%"; nothing else may appear in a URL
_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_LOOPBACK_NAMES = frozenset({"localhost"})


def is_keyset_name(value: object) -> bool:
    """Whether ``value`` is a valid key-set name (see the module docstring)."""
    # fullmatch: "$" alone would accept a trailing newline
    return type(value) is str and _NAME.fullmatch(value) is not None


def check_keyset_name(value: object) -> str:
    """``value`` if it is a valid key-set name, else :class:`InvalidInputError`."""
    if not is_keyset_name(value):
        raise InvalidInputError(
            f"a key-set name is 1-{KEYSET_NAME_MAX} characters of A-Z a-z 0-9 . _ -, "
            "starting with a letter or digit",
            field="name",
        )
    return value  # type: ignore[return-value]  # is_keyset_name checked the type


def is_kid(value: object) -> bool:
    """Whether ``value`` is an acceptable key id (see the module docstring)."""
    return type(value) is str and 0 < len(value) <= KID_MAX and value.isprintable()


def check_kid(value: object) -> str:
    """``value`` if it is an acceptable kid, else :class:`InvalidInputError`."""
    if not is_kid(value):
        raise InvalidInputError(
            f"a kid is 1-{KID_MAX} printable characters (no control characters)", field="kid"
        )
    return value  # type: ignore[return-value]


def known_name(name: object) -> str:
    """``name`` if it can name a stored set, else :class:`KeySetNotFoundError`.

    The store's lookups by name pass through here first: a value that breaks
    the key-set name rule of :mod:`keywell.lifecycle.names` (a NUL, a control
    character, a lone surrogate, a non-string...) names no set, on SQLite and
    PostgreSQL alike, and never reaches the driver. The message does not echo it.
    """
    if not is_keyset_name(name):
        raise KeySetNotFoundError("no key set has that name (not a valid key-set name)")
    return name  # type: ignore[return-value]  # is_keyset_name checked the type


def known_kid(kid: object) -> str:
    """``kid`` if it can name a stored key, else :class:`KeyNotFoundError` (see known_name)."""
    if not is_kid(kid):
        raise KeyNotFoundError("no key has that kid (not a valid kid)")
    return kid  # type: ignore[return-value]


def check_reason(value: object) -> str:
    """``value`` if it is an acceptable audit reason, else :class:`InvalidInputError`."""
    if (
        type(value) is not str
        or not 0 < len(value) <= REASON_MAX
        or not value.isprintable()
        or not value.strip()
    ):
        raise InvalidInputError(
            f"a reason is 1-{REASON_MAX} printable characters, not only spaces "
            "(no control characters)",
            field="reason",
        )
    return value


def is_label(value: object, *, empty: bool = False) -> bool:
    """Whether ``value`` is an acceptable actor (or, with ``empty``, token name)."""
    return (
        type(value) is str
        and value.isprintable()
        and len(value) <= LABEL_MAX
        and (empty or bool(value))
    )


def check_label(value: object, field: str, *, empty: bool = False) -> str:
    """``value`` if it is an acceptable actor or token name, else :class:`InvalidInputError`."""
    if not is_label(value, empty=empty):
        raise InvalidInputError(
            f"{field} is {0 if empty else 1}-{LABEL_MAX} printable characters "
            "(no control characters)",
            field=field,
        )
    return value  # type: ignore[return-value]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is ``localhost`` or a loopback IP literal (``[::1]`` too).

    The one rule for "plain http is allowed here": issuer URLs and every URL
    the client fetches.
    """
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_issuer(value: object) -> str:
    """``value`` if it is an acceptable issuer URL, else :class:`InvalidInputError`."""
    refused = InvalidInputError(
        f"issuer must be an https URL (http only on loopback) of at most {ISSUER_MAX} "
        "characters, with a host and no user-info, query, fragment, space or control character",
        field="issuer",
    )
    if type(value) is not str or not 0 < len(value) <= ISSUER_MAX:
        raise refused
    if not value.isascii() or _URL_CHARS.fullmatch(value) is None:
        raise refused
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise refused from None
    if not host or "@" in parts.netloc or "?" in value or "#" in value:
        raise refused
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback(host)):
        return value
    raise refused
