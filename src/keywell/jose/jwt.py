"""JSON Web Token encode and decode (RFC 7519, RFC 9068 for ``typ``, RFC 8725).

:func:`decode` verifies the signature and the claims in one call and returns a
read-only mapping, never a bool. The issuer and audience checks are on unless
the caller disables them by name (``issuer=None``, ``audience=None``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from keywell.errors import ClaimError
from keywell.jose.claims import ClaimRules, check_claims
from keywell.jose.jwk import JWK
from keywell.jose.jws import DEFAULT_MAX_TOKEN_SIZE, KeySource, loads_object, sign, verify

__all__ = ["check_typ", "decode", "encode", "normalize_typ"]

_TIME_CLAIMS = ("exp", "nbf", "iat")


def encode(
    claims: Mapping[str, Any],
    key: JWK,
    headers: Mapping[str, Any] | None = None,
    *,
    alg: str | None = None,
    typ: str | None = "JWT",
) -> str:
    """Sign ``claims`` as a compact JWT; ``datetime`` values of exp/nbf/iat become NumericDates."""
    if not isinstance(claims, Mapping):
        raise TypeError("claims must be a mapping")
    body = dict(claims)
    for name in _TIME_CLAIMS:
        value = body.get(name)
        if isinstance(value, datetime):
            body[name] = int(value.timestamp())
    payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    return sign(payload, key, alg=alg, headers=headers, typ=typ)


def normalize_typ(value: str) -> str:
    """Lower-case a media type and drop an ``application/`` prefix (RFC 7515 section 4.1.9)."""
    value = value.lower()
    return value[12:] if value.startswith("application/") else value


def check_typ(header: Mapping[str, Any], expected: str) -> None:
    """Require the header ``typ`` to equal ``expected`` (e.g. ``at+jwt``, RFC 9068 section 4)."""
    typ = header.get("typ")
    if type(typ) is not str or normalize_typ(typ) != normalize_typ(expected):
        raise ClaimError(f'header "typ" must be {expected!r}', claim="typ")


def decode(
    token: str | bytes,
    keys: KeySource,
    *,
    issuer: str | Collection[str] | None,
    audience: str | Collection[str] | None,
    algorithms: Iterable[str] | None = None,
    leeway: float = 0,
    required: Collection[str] = ("exp",),
    typ: str | None = None,
    max_age: float | None = None,
    now: float | None = None,
    max_size: int = DEFAULT_MAX_TOKEN_SIZE,
) -> Mapping[str, Any]:
    """Verify a JWT's signature and claims; return the claims, read-only.

    ``issuer`` and ``audience`` must be given; pass ``None`` to skip that check.
    ``required`` claims must be present (``exp`` by default); ``leeway`` is the
    allowed clock skew in seconds; ``max_age`` bounds the age from ``iat``;
    ``typ`` requires that header type; ``now`` overrides the clock.

    Raises:
        keywell.errors.TokenError and its subclasses, each saying why.
    """
    rules = ClaimRules(
        issuer=issuer, audience=audience, leeway=leeway, required=required, max_age=max_age
    )
    jws = verify(token, keys, algorithms=algorithms, max_size=max_size)
    if typ is not None:
        check_typ(jws.header, typ)
    claims = loads_object(jws.payload, "payload")
    check_claims(claims, rules, time.time() if now is None else now)
    return MappingProxyType(claims)
