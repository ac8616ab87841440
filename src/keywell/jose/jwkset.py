"""JSON Web Key Set (RFC 7517 section 5).

Keys of types or curves keywell does not support are skipped, not fatal, as
section 5 asks; the reason for each is kept in :attr:`JWKSet.skipped`, and a
token whose ``kid`` names a skipped key is refused with
:class:`~keywell.errors.SkippedKeyError` saying why (not "no key matches").
A *public* set (the default when parsing) refuses private members and
symmetric keys outright: a published set holding them is a leak, not a quirk.

Several entries may share a ``kid``; whether a token naming it is ambiguous
is decided per token by the rule of :mod:`keywell.jose.kid_rule` (identical
entries are one key; only entries that may verify the token's ``alg`` count).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from keywell.errors import (
    InvalidKeyError,
    JWKSError,
    KeyNotSupportedError,
    NoMatchingKeyError,
    SkippedKeyError,
)
from keywell.jose.jwk import JWK, select_keys
from keywell.jose.kid_rule import KidEntry, distinct_keys, entry_of_jwk, entry_of_members

__all__ = ["MAX_KIDLESS_CANDIDATES", "JWKSet", "SkippedKey"]

#: The most keys a token without a ``kid`` is tried against.
MAX_KIDLESS_CANDIDATES = 8

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

    __slots__ = (
        "_by_kid",
        "_duplicates",
        "_keys",
        "_shared",
        "_skipped",
        "_skipped_kids",
        "_verify_keys",
    )

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
        self._skipped_kids = {s.kid: s for s in self._skipped if s.kid is not None}
        groups: dict[str, list[KidEntry]] = {}
        for index, key in enumerate(self._keys):
            if key.kid in self._duplicates:
                groups.setdefault(key.kid, []).append(entry_of_jwk(key, index))
        self._shared = {kid: tuple(v) for kid, v in groups.items()}

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
        loaded: dict[int, JWK] = {}
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
                loaded[index] = JWK.from_dict(item, allow_weak_rsa=allow_weak_rsa)
                keys.append(loaded[index])
            except (InvalidKeyError, KeyNotSupportedError) as exc:
                skipped.append(SkippedKey(index, kid, exc.message, exc.code))
        if not public and any(k.is_private for k in keys) and not all(k.is_private for k in keys):
            # Secret keys next to public-only ones: which role the set plays is
            # ambiguous (Wycheproof "MixedKeySet"); a caller must split it.
            raise JWKSError("JWK Set mixes secret keys with public-only keys")
        result = cls(keys, skipped=skipped)
        result._shared = _shared_entries(items, loaded)
        return result

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
        verify ``alg`` (no network, no guessing beyond this set), as long as
        there are at most :data:`MAX_KIDLESS_CANDIDATES`: a forged kid-less
        token must not cost a verification per key of a large set.

        Raises:
            NoMatchingKeyError, AlgorithmError: see :func:`select_keys`; also
                NoMatchingKeyError when the kid names several distinct keys
                that may verify ``alg`` (:mod:`keywell.jose.kid_rule`).
            SkippedKeyError: the kid names only a key skipped at parse time.
        """
        if kid is not None:
            shared = self._shared.get(kid)
            if shared is not None:
                return _one_of(shared, kid, alg, self._skipped)
        pool = self._by_kid.get(kid, ()) if kid is not None else self._verify_keys
        if len(pool) == 1 and alg in pool[0].verify_algorithms:
            return pool
        if not pool and kid in self._skipped_kids:
            raise _skipped_error(self._skipped_kids[kid])
        found = select_keys(pool, kid, alg)
        if kid is None and len(found) > MAX_KIDLESS_CANDIDATES:
            raise NoMatchingKeyError(
                f"the token has no kid and {len(found)} keys could verify it; "
                f"keywell tries at most {MAX_KIDLESS_CANDIDATES}"
            )
        return found

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


def _shared_entries(items: list[Any], loaded: Mapping[int, JWK]) -> dict[str, tuple[KidEntry, ...]]:
    """Entries of every string kid that several members of ``items`` carry."""
    counts: dict[str, int] = {}
    for item in items:
        kid = item.get("kid") if isinstance(item, Mapping) else None
        if type(kid) is str:
            counts[kid] = counts.get(kid, 0) + 1
    groups: dict[str, list[KidEntry]] = {}
    for index, item in enumerate(items):
        kid = item.get("kid") if isinstance(item, Mapping) else None
        if type(kid) is not str or counts[kid] < 2:
            continue
        key = loaded.get(index)
        entry = entry_of_jwk(key, index) if key is not None else entry_of_members(item, index)
        if entry is not None:
            groups.setdefault(kid, []).append(entry)
    return {kid: tuple(v) for kid, v in groups.items()}


def _one_of(
    shared: tuple[KidEntry, ...], kid: str, alg: str, skipped: tuple[SkippedKey, ...]
) -> tuple[JWK, ...]:
    """The one key that ``shared`` (entries carrying ``kid``) holds for ``alg``, or raise."""
    found = distinct_keys(shared, alg)
    if len(found) > 1:
        raise NoMatchingKeyError(
            f"kid {kid[:64]!r} names {len(found)} different keys that may verify {alg}; "
            "it is ambiguous"
        )
    if found and found[0].key is not None:
        return (found[0].key,)
    loaded = tuple(e.key for e in shared if e.key is not None)
    if found or not loaded:
        index = found[0].index if found else shared[0].index
        reason = next((s for s in skipped if s.index == index), None)
        if reason is not None:
            raise _skipped_error(reason)
        raise NoMatchingKeyError(f"no key matches kid {kid[:64]!r}")
    return select_keys(loaded, kid, alg)


def _skipped_error(skipped: SkippedKey) -> SkippedKeyError:
    kid = skipped.kid or ""
    return SkippedKeyError(
        f"kid {kid[:64]!r} names a key that was skipped when the set was parsed: {skipped.reason}",
        kid=kid,
        reason=skipped.reason,
        skipped_code=skipped.code,
    )
