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
from typing import Any

from keywell.jose.claims import check_typ, normalize_typ
from keywell.jose.jwk import JWK
from keywell.jose.jws import DEFAULT_MAX_TOKEN_SIZE, KeySource, sign
from keywell.jose.verifier import Verifier

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
        keywell.errors.TokenError and its subclasses, each saying why (see
        :meth:`keywell.Verifier.verify`); a registered claim or header
        parameter of the wrong JSON type is refused, never read as absent.
    """
    return Verifier(
        keys,
        issuer=issuer,
        audience=audience,
        algorithms=algorithms,
        leeway=leeway,
        required=required,
        typ=typ,
        max_age=max_age,
        max_size=max_size,
        clock=time.time if now is None else lambda: now,
        cache_size=0,  # a verifier made for one call: nothing to reuse
    ).verify(token)
