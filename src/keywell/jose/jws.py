"""JWS compact serialization: sign and verify (RFC 7515 sections 3.1, 5.1, 5.2; RFC 8725).

Verification is deny-by-default:

- the token's size is checked before any parsing (``max_size``);
- exactly three segments, ASCII only, strict base64url in each;
- the protected header must be a JSON object with no duplicate members
  (RFC 7515 section 5.2 step 3 allows refusing them; we do);
- ``alg`` must be implemented (``none`` is not), allowed by the caller, and
  allowed by the key: a key with ``alg`` accepts only that one, a key without
  accepts only algorithms of its own type and curve (RFC 8725 section 3.1);
- every registered header parameter present must have its JSON type
  (:mod:`keywell.jose.registered`: ``"kid": null`` or ``"crit": "x"`` is
  refused with :class:`~keywell.errors.InvalidHeaderError` naming it, before
  any key is looked up);
- ``crit`` must name members present in the header and not parameters of
  RFC 7515/7518 themselves; members not understood by the caller are refused
  (RFC 7515 section 4.1.11), and ``b64: false`` (RFC 7797) is refused;
- ``jku``, ``x5u``, ``jwk`` and ``x5c`` never choose the key: keys come only
  from the caller;
- the signature length is checked against the algorithm before verifying.

Parsed headers are cached by their encoded form: tokens from one issuer share
a handful of headers, so the JSON parse is paid once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from keywell.jose._compact import (
    DEFAULT_MAX_TOKEN_SIZE,
    KeySource,
    VerifiedJWS,
    compact,
    encode_header,
    verify_compact,
)
from keywell.jose.jwk import JWK

__all__ = ["DEFAULT_MAX_TOKEN_SIZE", "KeySource", "VerifiedJWS", "sign", "verify"]


def verify(
    token: str | bytes,
    keys: KeySource,
    *,
    algorithms: Iterable[str] | None = None,
    crit: Iterable[str] = (),
    max_size: int = DEFAULT_MAX_TOKEN_SIZE,
) -> VerifiedJWS:
    """Verify a compact JWS against ``keys`` and return its header and payload.

    ``algorithms`` narrows what the keys allow; ``crit`` lists the critical
    header parameters the caller understands and checks itself.

    Raises:
        MalformedTokenError, AlgorithmError, NoMatchingKeyError, InvalidSignatureError.
    """
    allowed = None if algorithms is None else frozenset(algorithms)
    return verify_compact(token, keys, allowed, crit, max_size)


def sign(
    payload: bytes,
    key: JWK,
    *,
    alg: str | None = None,
    headers: Mapping[str, Any] | None = None,
    typ: str | None = None,
) -> str:
    """Sign ``payload`` with ``key`` into a compact JWS; ``alg`` defaults to the key's own."""
    alg, signer = key.signer(alg)
    kid = headers.get("kid", key.kid) if headers else key.kid
    extra = {k: v for k, v in headers.items() if k != "kid"} if headers else None
    return compact(encode_header(alg, kid, extra, typ), payload, signer)
