"""Key-encryption keys and sealing of private JWKs at rest (DESIGN.md invariant 4).

Private JWKs are stored only as AES-256-GCM ciphertext (``cryptography``'s
``AESGCM``, a fresh 96-bit random nonce per seal) under a KEK. The associated
data binds the ciphertext to its row: key-set name, kid and KEK id, so a
ciphertext copied into another row, or relabelled with another KEK id, fails
to open. A missing or wrong KEK raises :class:`~keywell.errors.KEKError`
naming the KEK id needed; nothing is regenerated or lost.

Configuration, newest KEK last (new keys and :meth:`rewrap` use the newest):

* ``KEYWELL_KEK``: base64url of 32 bytes; its id is ``KEYWELL_KEK_ID`` or
  derived from the key (a truncated SHA-256, which reveals nothing usable);
* ``KEYWELL_KEKS``: several ``id:key`` entries separated by commas;
* ``KEYWELL_KEK_FILE``: a file holding one key, or ``id:key`` lines.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keywell.errors import KEKError
from keywell.jose.base64url import b64url_decode, b64url_encode

__all__ = ["DevelopmentKEKWarning", "KEKRing", "seal_aad"]

_NONCE = 12
_AAD_LABEL = "keywell-private-jwk-v1"


class DevelopmentKEKWarning(UserWarning):
    """A development KEK file is in use: private keys are only as safe as that file."""


def seal_aad(keyset: str, kid: str, kek_id: str) -> bytes:
    """The associated data binding a sealed key to its row (unambiguous JSON array)."""
    return json.dumps([_AAD_LABEL, keyset, kid, kek_id], separators=(",", ":")).encode()


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
    out: list[tuple[str, bytes]] = []
    for raw in text.replace(",", "\n").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if ":" in line:
            kek_id, _, value = line.partition(":")
            key = _parse_key(value, f"{source} ({kek_id.strip()})")
            out.append((kek_id.strip(), key))
        else:
            key = _parse_key(line, source)
            out.append((default_id or derive_kek_id(key), key))
    return out


class KEKRing:
    """The configured KEKs by id; the last one is the newest and seals new keys.

    Args:
        keks: ``(kek_id, 32-byte key)`` pairs, oldest first, or a mapping in that order.
    """

    __slots__ = ("_aeads", "_newest")

    def __init__(self, keks: Iterable[tuple[str, bytes]] | Mapping[str, bytes]) -> None:
        items = list(keks.items()) if isinstance(keks, Mapping) else list(keks)
        if not items:
            raise ValueError("a KEKRing needs at least one KEK")
        self._aeads: dict[str, AESGCM] = {}
        for kek_id, key in items:
            if not isinstance(kek_id, str) or not kek_id or ":" in kek_id:
                raise ValueError("a KEK id must be a non-empty string without ':'")
            if not isinstance(key, bytes) or len(key) != 32:
                raise ValueError(f"KEK {kek_id!r} must be 32 bytes")
            self._aeads[kek_id] = AESGCM(key)
        self._newest = items[-1][0]

    @classmethod
    def generate(cls, kek_id: str | None = None) -> KEKRing:
        """A ring holding one fresh random KEK (tests, or a first deployment)."""
        key = secrets.token_bytes(32)
        return cls([(kek_id or derive_kek_id(key), key)])

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KEKRing | None:
        """The ring configured in the environment, or ``None`` if none is.

        Raises:
            KEKError: a configured KEK is malformed or its file unreadable.
        """
        env = os.environ if environ is None else environ
        items: list[tuple[str, bytes]] = []
        path = env.get("KEYWELL_KEK_FILE")
        if path:
            try:
                content = Path(path).read_text()
            except OSError as exc:
                raise KEKError(f"cannot read KEYWELL_KEK_FILE {path}: {exc.strerror}") from exc
            items += _parse_entries(content, "KEYWELL_KEK_FILE", env.get("KEYWELL_KEK_ID"))
        if env.get("KEYWELL_KEKS"):
            items += _parse_entries(env["KEYWELL_KEKS"], "KEYWELL_KEKS")
        if env.get("KEYWELL_KEK"):
            items += _parse_entries(env["KEYWELL_KEK"], "KEYWELL_KEK", env.get("KEYWELL_KEK_ID"))
        return cls(items) if items else None

    @classmethod
    def development(cls, path: str | os.PathLike[str]) -> KEKRing:
        """Load, or create with mode 0600, a development KEK file; warns loudly either way."""
        file = Path(path)
        if not file.exists():
            key = secrets.token_bytes(32)
            try:
                fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process created it first: read theirs below
            else:
                with os.fdopen(fd, "w") as fh:
                    fh.write(f"{derive_kek_id(key)}:{b64url_encode(key)}\n")
        warnings.warn(
            f"DEVELOPMENT KEK in use ({file}): private keys are encrypted under a key stored "
            "beside the database. Set KEYWELL_KEK or KEYWELL_KEK_FILE in production.",
            DevelopmentKEKWarning,
            stacklevel=2,
        )
        return cls(_parse_entries(file.read_text(), str(file)))

    @property
    def newest(self) -> str:
        """The id of the KEK that seals new keys."""
        return self._newest

    @property
    def ids(self) -> tuple[str, ...]:
        """Every configured KEK id, oldest first."""
        return tuple(self._aeads)

    def seal(self, plaintext: bytes, *, keyset: str, kid: str) -> tuple[str, bytes]:
        """Encrypt under the newest KEK; returns ``(kek_id, nonce || ciphertext)``."""
        nonce = secrets.token_bytes(_NONCE)
        aad = seal_aad(keyset, kid, self._newest)
        return self._newest, nonce + self._aeads[self._newest].encrypt(nonce, plaintext, aad)

    def open(self, blob: bytes, *, kek_id: str, keyset: str, kid: str) -> bytes:
        """Decrypt a sealed key.

        Raises:
            KEKError: the KEK ``kek_id`` is not configured, or it does not open this blob.
        """
        aead = self._aeads.get(kek_id)
        if aead is None:
            raise KEKError(
                f"KEK {kek_id!r} is needed to decrypt key {kid!r} of key set {keyset!r} "
                "but is not configured",
                kek_id=kek_id,
            )
        try:
            return aead.decrypt(blob[:_NONCE], blob[_NONCE:], seal_aad(keyset, kid, kek_id))
        except InvalidTag:
            raise KEKError(
                f"KEK {kek_id!r} does not decrypt key {kid!r} of key set {keyset!r}: "
                "wrong KEK or the ciphertext was moved or altered",
                kek_id=kek_id,
            ) from None

    def __repr__(self) -> str:
        return f"KEKRing(ids={list(self._aeads)!r}, newest={self._newest!r})"
