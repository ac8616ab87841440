"""JSON Web Key Set (RFC 7517 section 5).

Keys of types or curves keywell does not support are skipped, not fatal, as
section 5 asks; the reason for each is kept in :attr:`JWKSet.skipped`. A
*public* set (the default when parsing) refuses private members and symmetric
keys outright: a published set holding them is a leak, not a quirk.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from keywell.errors import InvalidKeyError, JWKSError, KeyNotSupportedError
from keywell.jose.jwk import JWK, select_keys

__all__ = ["JWKSet", "SkippedKey"]

_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")


@dataclass(frozen=True, slots=True)
class SkippedKey:
    """A key of a parsed set that was not loaded, and why."""

    index: int
    kid: str | None
    reason: str
    code: str


class JWKSet:
    """An immutable set of :class:`JWK`, indexed by ``kid``."""

    __slots__ = ("_by_kid", "_duplicates", "_keys", "_skipped", "_verify_keys")

    def __init__(self, keys: Iterable[JWK], *, skipped: Iterable[SkippedKey] = ()) -> None:
        """Build a set from keys already parsed."""
        self._keys = tuple(keys)
        for key in self._keys:
            if not isinstance(key, JWK):
                raise TypeError("JWKSet holds JWK objects; use JWKSet.from_dict for mappings")
        self._skipped = tuple(skipped)
        by_kid: dict[str | None, list[JWK]] = {}
        for key in self._keys:
            by_kid.setdefault(key.kid, []).append(key)
        self._by_kid = {kid: tuple(v) for kid, v in by_kid.items()}
        self._duplicates = frozenset(
            kid for kid, v in by_kid.items() if kid is not None and len(v) > 1
        )
        self._verify_keys = tuple(k for k in self._keys if k.verify_algorithms)

    @classmethod
    def from_dict(
        cls, document: Mapping[str, Any], *, public: bool = True, allow_weak_rsa: bool = False
    ) -> JWKSet:
        """Parse a JWK Set document ``{"keys": [...]}``.

        Unsupported key types and curves, and keys that fail validation, are
        skipped with their reason. With ``public=True`` a key with private
        members or a symmetric key makes the whole set invalid.

        Raises:
            JWKSError: the document is not a JWK Set, or a public set holds secrets.
        """
        if not isinstance(document, Mapping):
            raise JWKSError("a JWK Set must be a JSON object")
        items = document.get("keys")
        if not isinstance(items, list):
            raise JWKSError('a JWK Set needs a "keys" array')
        keys: list[JWK] = []
        skipped: list[SkippedKey] = []
        for index, item in enumerate(items):
            kid = item.get("kid") if isinstance(item, Mapping) else None
            kid = kid if isinstance(kid, str) else None
            if public and isinstance(item, Mapping):
                leaked = [m for m in _PRIVATE_MEMBERS if m in item]
                if leaked:
                    what = "a symmetric key" if item.get("kty") == "oct" else "private members"
                    raise JWKSError(f"public JWK Set holds {what} (key {index}, kid {kid!r})")
            try:
                keys.append(JWK.from_dict(item, allow_weak_rsa=allow_weak_rsa))
            except (InvalidKeyError, KeyNotSupportedError) as exc:
                skipped.append(SkippedKey(index, kid, exc.message, exc.code))
        return cls(keys, skipped=skipped)

    @classmethod
    def from_json(
        cls, data: str | bytes, *, public: bool = True, allow_weak_rsa: bool = False
    ) -> JWKSet:
        """Parse a JWK Set from JSON text."""
        try:
            document = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise JWKSError("JWK Set is not valid JSON") from None
        return cls.from_dict(document, public=public, allow_weak_rsa=allow_weak_rsa)

    @property
    def keys(self) -> tuple[JWK, ...]:
        """The loaded keys, in document order."""
        return self._keys

    @property
    def skipped(self) -> tuple[SkippedKey, ...]:
        """Keys that were not loaded, with the reason."""
        return self._skipped

    @property
    def duplicate_kids(self) -> frozenset[str]:
        """Key IDs that more than one key shares."""
        return self._duplicates

    def get(self, kid: str) -> JWK | None:
        """The key with this ``kid``, or None (the first one, if several share it)."""
        found = self._by_kid.get(kid)
        return found[0] if found else None

    def find(
        self, *, kid: str | None = None, alg: str | None = None, use: str | None = None
    ) -> list[JWK]:
        """Keys matching every given criterion (``alg`` matches keys that may verify with it)."""
        pool: Iterable[JWK] = self._by_kid.get(kid, ()) if kid is not None else self._keys
        return [
            k
            for k in pool
            if (alg is None or alg in k.verify_algorithms) and (use is None or k.use in (use, None))
        ]

    def candidates(self, kid: str | None, alg: str) -> tuple[JWK, ...]:
        """Keys that may verify a token with this ``kid`` and ``alg``.

        With a kid, only keys with that kid; without one, every key that can
        verify ``alg`` (no network, no guessing beyond this set).

        Raises:
            NoMatchingKeyError, AlgorithmError: see :func:`select_keys`.
        """
        pool = self._by_kid.get(kid, ()) if kid is not None else self._verify_keys
        return select_keys(pool, kid, alg)

    def to_dict(self, *, private: bool = False) -> dict[str, Any]:
        """The set as a JWK Set document."""
        return {"keys": [k.to_dict(private=private) for k in self._keys]}

    def to_json(self, *, private: bool = False) -> str:
        """The set as compact JSON text."""
        return json.dumps(self.to_dict(private=private), separators=(",", ":"))

    def __iter__(self) -> Iterator[JWK]:
        """Iterate over the loaded keys."""
        return iter(self._keys)

    def __len__(self) -> int:
        """The number of loaded keys."""
        return len(self._keys)

    def __contains__(self, kid: object) -> bool:
        """Whether a key with this kid is loaded."""
        return kid in self._by_kid

    def __repr__(self) -> str:
        """A summary listing kids only."""
        return f"<JWKSet {[k.kid for k in self._keys]!r} skipped={len(self._skipped)}>"
