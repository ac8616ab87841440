"""Reading keys and writing files for the ``keywell`` command.

Private key files are created with mode 0600 from the start (``os.open`` with
``O_EXCL`` on a temporary name, then an atomic rename), never ``chmod``-ed
after: there is no instant at which another user could open them.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from keywell.jose.jwk import JWK

__all__ = ["STDIO", "key_from_file", "load_key", "read_input", "save", "write_file"]

#: The file name that means standard input or output.
STDIO = "-"
_MAX_INPUT = 1 << 20


def read_input(name: str) -> bytes:
    """The bytes of file ``name``, or of stdin for ``-``; at most 1 MiB.

    Raises:
        OSError: the file cannot be read.
        ValueError: it is larger than 1 MiB.
    """
    if name == STDIO:
        data = sys.stdin.buffer.read(_MAX_INPUT + 1)
    else:
        with open(name, "rb") as fh:
            data = fh.read(_MAX_INPUT + 1)
    if len(data) > _MAX_INPUT:
        raise ValueError(f"{name} is larger than 1 MiB")
    return data


def load_key(data: bytes, *, password: bytes | None = None, allow_weak_rsa: bool = False) -> JWK:
    """A key from JWK JSON (or a one-key JWK Set), PEM or DER.

    ``allow_weak_rsa`` accepts an RSA key of 512-2047 bits (verify only), as
    :meth:`JWK.from_dict` does.

    Raises:
        keywell.errors.InvalidKeyError: the data is not a key keywell can load.
    """
    from keywell.errors import InvalidKeyError
    from keywell.jose.jwk import JWK
    from keywell.jose.jwk_convert import key_to_members, load_der, load_pem

    text = data.lstrip()
    if text.startswith(b"{"):
        try:
            doc = json.loads(text)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise InvalidKeyError("the key file is not valid JSON") from None
        if isinstance(doc, dict) and isinstance(doc.get("keys"), list):
            if len(doc["keys"]) != 1:
                raise InvalidKeyError("the JWK Set holds more than one key; pick one")
            doc = doc["keys"][0]
        return JWK.from_dict(doc, allow_weak_rsa=allow_weak_rsa)
    if allow_weak_rsa:  # through the members, where the weak-RSA opt-in lives
        loaded = (
            load_pem(data, password) if b"-----BEGIN" in text[:4096] else load_der(data, password)
        )
        return JWK.from_dict(key_to_members(loaded), allow_weak_rsa=True)
    if b"-----BEGIN" in text[:4096]:
        return JWK.from_pem(data, password=password)
    return JWK.from_der(data, password=password)


def write_file(path: str, data: bytes, *, private: bool, force: bool) -> None:
    """Write ``data`` to ``path``: mode 0600 when ``private``, else 0644, atomically.

    Raises:
        FileExistsError: ``path`` exists and ``force`` is false.
        OSError: the file cannot be written.
    """
    target = Path(path)
    if target.exists() and not force:
        raise FileExistsError(f"{path} exists; pass --force to replace it")
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    mode = 0o600 if private else 0o644
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def key_from_file(name: str, *, json_mode: bool, password_file: str | None = None) -> JWK:
    """Load a key for a command, or report why not and exit 2 (messages hold no key material)."""
    from keywell.cli.output import die
    from keywell.errors import KeywellError

    try:
        password = read_input(password_file).rstrip(b"\r\n") if password_file else None
        return load_key(read_input(name), password=password)
    except KeywellError as exc:
        die(f"{name}: {exc.message}", json_mode=json_mode, code=exc.code)
    except (OSError, ValueError) as exc:
        die(f"{name}: {_os_reason(exc)}", json_mode=json_mode, code="file")


def _os_reason(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return str(exc)


def save(path: str, data: bytes, *, private: bool, force: bool, json_mode: bool) -> None:
    """:func:`write_file`, or report why not and exit 2."""
    from keywell.cli.output import die

    try:
        write_file(path, data, private=private, force=force)
    except FileExistsError as exc:
        die(str(exc), json_mode=json_mode, code="exists")
    except OSError as exc:
        die(f"{path}: {_os_reason(exc)}", json_mode=json_mode, code="file")
