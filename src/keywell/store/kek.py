"""Key-encryption keys and sealing of private JWKs at rest (DESIGN.md invariant 4).

Private JWKs are stored only as AES-256-GCM ciphertext (``cryptography``'s
``AESGCM``, a fresh 96-bit random nonce per seal) under a KEK. The associated
data binds the ciphertext to its row: key-set name, kid and KEK id, so a
ciphertext copied into another row, or relabelled with another KEK id, fails
to open. A missing or wrong KEK raises :class:`~keywell.errors.KEKError`
naming the KEK id needed; nothing is regenerated or lost.

Configuration, newest KEK last. The store, not the ring, names the KEK that
seals new keys (:mod:`keywell.store.kek_check`); the ring's newest KEK only
matters to ``keywell kek rotate`` (it becomes the store's sealing KEK) and to
the bootstrap of an empty store:

* ``KEYWELL_KEK``: base64url of 32 bytes; its id is ``KEYWELL_KEK_ID`` or
  derived from the key (a truncated SHA-256, which reveals nothing usable);
* ``KEYWELL_KEKS``: several ``id:key`` entries separated by commas;
* ``KEYWELL_KEK_FILE``: a file holding one key, or ``id:key`` lines.

A variable that is set but empty (or a file holding no key) is a
:class:`~keywell.errors.KEKError`, never "no KEK configured": an empty
``KEYWELL_KEK=""`` must not fall back to a fresh development KEK. One id
given two different keys is refused too, and so is one key under two ids.
``KEYWELL_KEK_FILE`` is read up to 64 KiB (a larger file, ``/dev/zero``
included, is refused); a KEK file readable by group or others is logged as a
warning (a mounted secret is often 0644; tighten it to 0600 or 0400).

Each KEK also seals a *check value* (:meth:`KEKRing.check_value`): a public
constant sealed under the KEK with the KEK id as associated data, which the
store keeps per KEK id so that a wrong key under a known id is detected even
when no live key is left to try it on (:mod:`keywell.store.kek_check`).
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
from keywell.jose.base64url import b64url_encode
from keywell.store.kek_env import (
    _KEK_ID,
    _KEK_ID_RULE,
    _parse_entries,
    _read_kek_file,
    _unique,
    derive_kek_id,
)

__all__ = ["DevelopmentKEKWarning", "KEKRing", "check_aad", "derive_kek_id", "seal_aad"]

_NONCE = 12
_TAG = 16
_AAD_LABEL = "keywell-private-jwk-v1"
_CHECK_LABEL = "keywell-kek-check-v1"
_CHECK_PLAINTEXT = b"keywell KEK check value v1"
_SOURCES = ("KEYWELL_KEK_FILE", "KEYWELL_KEKS", "KEYWELL_KEK", "KEYWELL_KEK_ID")


class DevelopmentKEKWarning(UserWarning):
    """A development KEK file is in use: private keys are only as safe as that file."""


def seal_aad(keyset: str, kid: str, kek_id: str) -> bytes:
    """The associated data binding a sealed key to its row (unambiguous JSON array)."""
    return json.dumps([_AAD_LABEL, keyset, kid, kek_id], separators=(",", ":")).encode()


def check_aad(kek_id: str) -> bytes:
    """The associated data of a KEK check value (unambiguous JSON array)."""
    return json.dumps([_CHECK_LABEL, kek_id], separators=(",", ":")).encode()


class KEKRing:
    """The configured KEKs by id, oldest first; the last one is the newest.

    Args:
        keks: ``(kek_id, 32-byte key)`` pairs, oldest first, or a mapping in that order.

    Raises:
        KEKError: one key is given under two ids (which id sealed a key would be ambiguous).
        ValueError: no KEK, a malformed id or key, or one id given twice.
    """

    __slots__ = ("_aeads", "_newest")

    def __init__(self, keks: Iterable[tuple[str, bytes]] | Mapping[str, bytes]) -> None:
        items = list(keks.items()) if isinstance(keks, Mapping) else list(keks)
        if not items:
            raise ValueError("a KEKRing needs at least one KEK")
        self._aeads: dict[str, AESGCM] = {}
        by_key: dict[bytes, str] = {}
        for kek_id, key in items:
            if not isinstance(kek_id, str) or not _KEK_ID.fullmatch(kek_id):
                raise ValueError(_KEK_ID_RULE)
            if not isinstance(key, bytes) or len(key) != 32:
                raise ValueError(f"KEK {kek_id!r} must be 32 bytes")
            if kek_id in self._aeads:
                raise ValueError(f"KEK id {kek_id!r} is given twice")
            digest = hashlib.sha256(key).digest() if isinstance(key, bytes) else b""
            if digest in by_key:
                raise KEKError(
                    f"one KEK is configured under two ids, {by_key[digest]!r} and {kek_id!r}: "
                    "give each key one id (a leftover KEYWELL_KEK beside KEYWELL_KEKS?)",
                    kek_id=kek_id,
                )
            by_key[digest] = kek_id
            self._aeads[kek_id] = AESGCM(key)
        self._newest = items[-1][0]

    @classmethod
    def generate(cls, kek_id: str | None = None) -> KEKRing:
        """A ring holding one fresh random KEK (tests, or a first deployment)."""
        key = secrets.token_bytes(32)
        return cls([(kek_id or derive_kek_id(key), key)])

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KEKRing | None:
        """The ring configured in the environment, or ``None`` if no variable is set.

        Raises:
            KEKError: a variable is set but empty, a KEK is malformed, one id has
                two keys, or the KEK file is unreadable or holds no key.
        """
        env = os.environ if environ is None else environ
        for name in _SOURCES:
            if name in env and not env[name].strip():
                raise KEKError(f"{name} is set but empty: give it a value or unset it")
        kek_id = env.get("KEYWELL_KEK_ID")
        items: list[tuple[str, bytes]] = []
        if "KEYWELL_KEK_FILE" in env:
            content = _read_kek_file(env["KEYWELL_KEK_FILE"])
            items += _parse_entries(content, "KEYWELL_KEK_FILE", kek_id)
        if "KEYWELL_KEKS" in env:
            items += _parse_entries(env["KEYWELL_KEKS"], "KEYWELL_KEKS")
        if "KEYWELL_KEK" in env:
            items += _parse_entries(env["KEYWELL_KEK"], "KEYWELL_KEK", kek_id)
        return cls(_unique(items)) if items else None

    @classmethod
    def development(cls, path: str | os.PathLike[str]) -> KEKRing:
        """Load, or create with mode 0600, a development KEK file; warns loudly either way.

        The file is written complete under a temporary name, then linked into
        place, so a concurrent reader never sees it empty.

        Raises:
            KEKError: the file exists but is unreadable, empty or malformed.
        """
        file = Path(path)
        if not file.exists():
            key = secrets.token_bytes(32)
            tmp = file.with_name(f".{file.name}.{secrets.token_hex(8)}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "w") as fh:
                    fh.write(f"{derive_kek_id(key)}:{b64url_encode(key)}\n")
                os.link(tmp, file)
            except FileExistsError:
                pass  # another process created it first: read theirs below
            finally:
                tmp.unlink()
        warnings.warn(
            f"DEVELOPMENT KEK in use ({file}): private keys are encrypted under a key stored "
            "beside the database. Set KEYWELL_KEK or KEYWELL_KEK_FILE in production.",
            DevelopmentKEKWarning,
            stacklevel=2,
        )
        try:
            content = file.read_text()
        except OSError as exc:
            raise KEKError(f"cannot read development KEK file {file}: {exc.strerror}") from exc
        return cls(_unique(_parse_entries(content, str(file))))

    @property
    def newest(self) -> str:
        """The id of the last configured KEK (what ``keywell kek rotate`` promotes)."""
        return self._newest

    @property
    def ids(self) -> tuple[str, ...]:
        """Every configured KEK id, oldest first."""
        return tuple(self._aeads)

    def seal(self, plaintext: bytes, *, keyset: str, kid: str, kek_id: str) -> tuple[str, bytes]:
        """Encrypt under KEK ``kek_id`` (the store's sealing KEK); returns ``(kek_id, blob)``.

        ``blob`` is ``nonce || ciphertext``; the associated data binds it to
        ``keyset``, ``kid`` and ``kek_id`` (:func:`seal_aad`).

        Raises:
            KEKError: ``kek_id`` is not configured.
        """
        aead = self._aeads.get(kek_id)
        if aead is None:
            raise KEKError(f"KEK {kek_id!r} is not configured", kek_id=kek_id)
        nonce = secrets.token_bytes(_NONCE)
        return kek_id, nonce + aead.encrypt(nonce, plaintext, seal_aad(keyset, kid, kek_id))

    def check_value(self, kek_id: str) -> bytes:
        """The check value of KEK ``kek_id``: ``nonce || AES-GCM(constant)``, the id as AAD.

        It holds nothing secret (a public constant) and proves, once stored, that
        a later ring holds the same key under that id (:meth:`matches_check`).
        """
        nonce = secrets.token_bytes(_NONCE)
        return nonce + self._aeads[kek_id].encrypt(nonce, _CHECK_PLAINTEXT, check_aad(kek_id))

    def matches_check(self, kek_id: str, check: bytes) -> bool:
        """Whether KEK ``kek_id`` of this ring opens ``check`` (a stored check value)."""
        aead = self._aeads.get(kek_id)
        if aead is None or len(check) < _NONCE + _TAG:
            return False
        try:
            plain = aead.decrypt(check[:_NONCE], check[_NONCE:], check_aad(kek_id))
        except InvalidTag:
            return False
        return plain == _CHECK_PLAINTEXT

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
            if len(blob) < _NONCE + _TAG:
                raise InvalidTag  # truncated: treated like any altered ciphertext
            return aead.decrypt(blob[:_NONCE], blob[_NONCE:], seal_aad(keyset, kid, kek_id))
        except InvalidTag:
            raise KEKError(
                f"KEK {kek_id!r} does not decrypt key {kid!r} of key set {keyset!r}: "
                "wrong KEK or the ciphertext was moved or altered",
                kek_id=kek_id,
            ) from None

    def __repr__(self) -> str:
        return f"KEKRing(ids={list(self._aeads)!r}, newest={self._newest!r})"
