"""When a ``kid`` shared by several JWK Set entries is ambiguous: the one rule, per token.

RFC 7517 section 4.5 asks for distinct kids within a set but does not make
identical entries different keys: a server under rotation may list the same
public key twice. So ambiguity is decided for each token, never for the set:

1. take the entries whose ``kid`` is the token's ``kid``;
2. keep those that may verify the token's ``alg``: their ``alg`` is absent
   (and the key type and curve fit) or equal to it, and their ``use`` /
   ``key_ops`` allow verification (RFC 7517 sections 4.2, 4.3);
3. entries with identical key material (the RFC 7638 thumbprint) are one key;
4. more than one distinct key left is ambiguous and the token is refused
   (Wycheproof "DuplicateKid"); exactly one is the key.

Entries keywell skipped (an RSA-1024 key, an invalid one) take part as what
they claim to be: a set whose kid names two different ES256 keys is
ambiguous even if one of them could not be loaded. :class:`~keywell.JWKSet`
(and through it ``RemoteJWKSet``, ``MultiIssuerVerifier`` and the CLI) and the
linter's ``duplicate-kid`` finding all use :func:`distinct_keys`.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from keywell.errors import KeywellError
from keywell.jose.algorithms import ALGORITHMS
from keywell.jose.jwk import JWK

__all__ = ["KidEntry", "distinct_keys", "entry_of_jwk", "entry_of_members", "shared_kids"]

_MATERIAL = ("kty", "crv", "e", "n", "x", "y", "k")


@dataclass(frozen=True, slots=True)
class KidEntry:
    """One JWK Set entry as the kid rule sees it.

    ``algs`` are the JWS algorithms it may verify, ``material`` identifies its
    key material, ``key`` is the loaded key (None for a skipped entry) and
    ``index`` its position in the set.
    """

    kid: str
    algs: frozenset[str]
    material: str
    key: JWK | None
    index: int


def entry_of_jwk(key: JWK, index: int) -> KidEntry:
    """The entry of a loaded key (its material is its RFC 7638 thumbprint)."""
    return KidEntry(key.kid or "", key.verify_algorithms, key.thumbprint(), key, index)


def entry_of_members(item: Mapping[str, Any], index: int) -> KidEntry | None:
    """The entry of a raw JWK Set member, loadable or not; None without a string kid.

    A member keywell would skip for weakness or private members is loaded
    here regardless, to learn its thumbprint; one that cannot be loaded at
    all claims what its members say.
    """
    kid = item.get("kid")
    if type(kid) is not str:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            key = JWK.from_dict(item, allow_weak_rsa=True)
    except (KeywellError, ValueError, TypeError, ArithmeticError):
        return KidEntry(kid, _claimed_algs(item), _raw_material(item), None, index)
    return KidEntry(kid, key.verify_algorithms, key.thumbprint(), None, index)


def _claimed_algs(item: Mapping[str, Any]) -> frozenset[str]:
    use, ops, alg = item.get("use"), item.get("key_ops"), item.get("alg")
    if "use" in item and use != "sig":
        return frozenset()
    if "key_ops" in item and not (type(ops) is list and "verify" in ops):
        return frozenset()
    kty, crv = item.get("kty"), item.get("crv")
    if type(kty) is not str:
        return frozenset()
    if "alg" in item:
        return frozenset({alg}) if type(alg) is str and alg in ALGORITHMS else frozenset()
    curve = crv if type(crv) is str else None
    return frozenset(n for n, a in ALGORITHMS.items() if a.fits(kty, curve))


def _raw_material(item: Mapping[str, Any]) -> str:
    return json.dumps({m: item[m] for m in _MATERIAL if m in item}, sort_keys=True, default=str)


def shared_kids(entries: Iterable[KidEntry]) -> dict[str, tuple[KidEntry, ...]]:
    """The entries of every kid that more than one entry carries."""
    by_kid: dict[str, list[KidEntry]] = {}
    for entry in entries:
        by_kid.setdefault(entry.kid, []).append(entry)
    return {kid: tuple(group) for kid, group in by_kid.items() if len(group) > 1}


def distinct_keys(entries: Iterable[KidEntry], alg: str) -> tuple[KidEntry, ...]:
    """One entry per distinct key among ``entries`` that may verify ``alg``.

    Loaded entries come before skipped ones of the same material, so a
    caller finds a usable key whenever one exists; more than one result
    means the kid is ambiguous for this ``alg``.
    """
    chosen: dict[str, KidEntry] = {}
    for entry in entries:
        if alg not in entry.algs:
            continue
        held = chosen.get(entry.material)
        if held is None or (held.key is None and entry.key is not None):
            chosen[entry.material] = entry
    return tuple(chosen.values())
