"""Reading KEK configuration text: ids, keys, entries and the bounded KEK file.

The parsing behind :meth:`keywell.store.kek.KEKRing.from_env`. Errors name a
source and an entry's position, never a secret's text. ``KEYWELL_KEK_FILE``
is read up to 64 KiB (``/dev/zero`` included: refused); a file that group or
others may read is logged as a warning on ``keywell.kek`` (mounted secrets
are often 0644, so this warns rather than refuses).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re

from keywell.errors import KEKError
from keywell.jose.base64url import b64url_decode, b64url_encode

__all__ = ["derive_kek_id"]

_MAX_FILE = 64 * 1024
_log = logging.getLogger("keywell.kek")
# Printable ASCII without ':' (id:key) and ',' (list separator); fits keywell_keys.kek_id.
_KEK_ID = re.compile(r"[!-+\--9;-~]{1,100}")
_KEK_ID_RULE = "a KEK id is 1-100 printable ASCII characters without ':', ',' or spaces"


def derive_kek_id(key: bytes) -> str:
    """A stable short id for a KEK, derived from it by a labelled SHA-256."""
    return "k-" + b64url_encode(hashlib.sha256(b"keywell-kek-id\0" + key).digest()[:9])


def _parse_key(text: str, source: str) -> bytes:
    try:
        key = b64url_decode(text.strip())
    except ValueError:
        # No exception chain: nothing about a secret's text may reach a log.
        raise KEKError(f"{source}: not base64url") from None
    if len(key) != 32:
        raise KEKError(f"{source}: a KEK must be 32 bytes, got {len(key)}")
    return key


def _parse_entries(
    text: str, source: str, default_id: str | None = None
) -> list[tuple[str, bytes]]:
    """``id:key`` or bare-key entries; errors name the entry's position, never its text."""
    out: list[tuple[str, bytes]] = []
    lines = [raw.strip() for raw in text.replace(",", "\n").splitlines()]
    for n, line in enumerate((x for x in lines if x and not x.startswith("#")), 1):
        where = f"{source} entry {n}"
        if ":" in line:
            kek_id, _, value = (part.strip() for part in line.partition(":"))
        else:
            kek_id, value = default_id or "", line
        key = _parse_key(value, where)
        kek_id = kek_id if ":" in line or default_id is not None else derive_kek_id(key)
        if not _KEK_ID.fullmatch(kek_id):
            raise KEKError(f"{where}: {_KEK_ID_RULE}")
        out.append((kek_id, key))
    if not out:
        raise KEKError(f"{source} is set but holds no KEK")
    return out


def _unique(items: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Drop exact repeats (first position kept); one id with two keys is refused."""
    seen: dict[str, bytes] = {}
    out: list[tuple[str, bytes]] = []
    for kek_id, key in items:
        if kek_id in seen:
            if seen[kek_id] != key:
                raise KEKError(f"KEK id {kek_id!r} is configured twice with different keys")
            continue
        seen[kek_id] = key
        out.append((kek_id, key))
    return out


def _read_kek_file(path: str) -> str:
    """The text of a KEK file, at most 64 KiB; warns when group or others may read it."""
    try:
        with open(path, "rb") as fh:
            mode = os.fstat(fh.fileno()).st_mode
            data = fh.read(_MAX_FILE + 1)
    except OSError as exc:
        raise KEKError(f"cannot read KEYWELL_KEK_FILE {path}: {exc.strerror}") from None
    if len(data) > _MAX_FILE:
        raise KEKError(f"KEYWELL_KEK_FILE {path} is larger than {_MAX_FILE} bytes")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise KEKError(f"KEYWELL_KEK_FILE {path} is not ASCII text") from None
    if mode & 0o077 and not path.startswith("/dev/"):
        _log.warning(
            "KEYWELL_KEK_FILE %s is readable by group or others (mode %o): make it 0600 or 0400",
            path,
            mode & 0o777,
        )
    return text
