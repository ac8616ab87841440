"""The compact JWS steps the hot paths call directly: split, parse the header, verify, assemble.

Internal to keywell (``_``-prefixed): :mod:`keywell.jose.jws` (the public
``sign``/``verify``), the verifier, the client and the issuer's signer share
these; they are not public API. RFC 7515 sections 3.1, 5.1 and 5.2.
"""

from __future__ import annotations

import json
from collections.abc import Container, Iterable, Mapping
from typing import Any, NamedTuple, Protocol

from keywell.errors import (
    AlgorithmError,
    InvalidHeaderError,
    InvalidSignatureError,
    MalformedTokenError,
    TokenTooLargeError,
    UnsupportedAlgorithmError,
)
from keywell.jose._frozen import freeze_members
from keywell.jose._json import loads_object
from keywell.jose.algorithms import ALGORITHMS, SignFn
from keywell.jose.base64url import b64url_decode, b64url_encode
from keywell.jose.jwk import JWK
from keywell.jose.registered import HEADER_TYPES, check_header_types

__all__ = [
    "DEFAULT_MAX_TOKEN_SIZE",
    "KeySource",
    "VerifiedJWS",
    "compact",
    "encode_header",
    "parse_header",
    "split",
    "verify_compact",
]

#: Tokens longer than this many characters are refused before parsing.
DEFAULT_MAX_TOKEN_SIZE = 16 * 1024
_HEADER_CACHE_SIZE = 512
_RESERVED_SIGN_HEADERS = frozenset({"alg", "crit", "b64"})
# RFC 7515 section 4.1.11: "crit" must not name parameters of RFC 7515 or RFC 7518.
_NOT_CRITICAL = frozenset(HEADER_TYPES) - {"b64"} | {"epk", "apu", "apv", "iv", "tag", "p2s", "p2c"}


class KeySource(Protocol):
    """Anything that can offer the keys that may verify a token: a JWK, a JWKSet, a remote set."""

    def candidates(self, kid: str | None, alg: str) -> tuple[JWK, ...]:
        """Keys that may verify a token with this ``kid`` and ``alg``."""


class VerifiedJWS(NamedTuple):
    """A verified JWS: its protected header, payload octets, and the key that verified it."""

    header: Mapping[str, Any]
    payload: bytes
    key: JWK


_header_cache: dict[str, tuple[Mapping[str, Any], str, str | None]] = {}


def parse_header(segment: str) -> tuple[Mapping[str, Any], str, str | None]:
    """Decode and check a protected header; return it read-only with its ``alg`` and ``kid``."""
    cached = _header_cache.get(segment)
    if cached is not None:
        return cached
    try:
        raw = b64url_decode(segment)
    except ValueError as exc:
        raise MalformedTokenError(f"header is not valid base64url: {exc}") from None
    header = loads_object(raw, "header")
    check_header_types(header)
    if "alg" not in header:
        raise InvalidHeaderError('header "alg" is missing', member="alg")
    alg = header["alg"]
    if alg not in ALGORITHMS:
        if alg.lower() == "none":
            raise UnsupportedAlgorithmError('alg "none" is never accepted')
        raise UnsupportedAlgorithmError(f"unsupported algorithm {alg[:32]!r}")
    kid = header.get("kid")  # a string when present: checked above
    if "b64" in header and header["b64"] is not True:
        raise InvalidHeaderError(
            'unencoded payloads ("b64": false, RFC 7797) are not accepted', member="b64"
        )
    if "crit" in header:
        for name in header["crit"]:
            if name not in header:
                raise InvalidHeaderError(
                    f'header "crit" names {name[:32]!r}, which the header lacks', member="crit"
                )
            if name in _NOT_CRITICAL:
                raise InvalidHeaderError(
                    f'header "crit" names {name!r}, a parameter of RFC 7515/7518 itself '
                    "(section 4.1.11)",
                    member="crit",
                )
    result = (freeze_members(header), alg, kid)  # read-only all the way: it is shared
    if len(_header_cache) >= _HEADER_CACHE_SIZE:
        _header_cache.clear()
    _header_cache[segment] = result
    return result


def split(token: str | bytes, max_size: int) -> tuple[str, str, str, str]:
    """Size-check and split a compact JWS into header, payload, signature and the token text."""
    if type(token) is not str:
        if not isinstance(token, bytes | bytearray):
            raise TypeError("a token must be str or bytes")
        if len(token) > max_size:
            raise TokenTooLargeError(f"token is longer than {max_size} characters")
        try:
            token = token.decode("ascii")
        except UnicodeDecodeError:
            raise MalformedTokenError("token contains non-ASCII bytes") from None
    if len(token) > max_size:
        raise TokenTooLargeError(f"token is longer than {max_size} characters")
    if not token.isascii():
        raise MalformedTokenError("token contains non-ASCII characters")
    parts = token.split(".")
    if len(parts) != 3:
        if len(parts) == 5:
            raise MalformedTokenError("JWE tokens are not accepted here")
        raise MalformedTokenError("a JWS compact token has exactly three segments")
    return parts[0], parts[1], parts[2], token


def verify_compact(
    token: str | bytes,
    keys: KeySource,
    algorithms: Container[str] | None,
    crit: Iterable[str],
    max_size: int,
) -> VerifiedJWS:
    """:func:`keywell.jose.jws.verify` with positional arguments, for callers on the hot path."""
    h, p, s, text = split(token, max_size)
    header, alg, kid = parse_header(h)
    if algorithms is not None and alg not in algorithms:
        raise AlgorithmError(f"alg {alg} is not in the allowed algorithms")
    if "crit" in header:
        unknown = set(header["crit"]) - set(crit)
        if unknown:
            raise InvalidHeaderError(
                f"unsupported critical header {sorted(unknown)[0][:32]!r}", member="crit"
            )
    candidates = keys.candidates(kid, alg)
    try:
        sig = b64url_decode(s)
    except ValueError as exc:
        raise MalformedTokenError(f"signature is not valid base64url: {exc}") from None
    signing_input = text[: len(h) + len(p) + 1].encode("ascii")
    error: InvalidSignatureError | None = None
    for key in candidates:
        try:
            key.verifier(alg)(signing_input, sig)
        except InvalidSignatureError as exc:
            error = exc
            continue
        try:
            payload = b64url_decode(p)
        except ValueError as exc:
            raise MalformedTokenError(f"payload is not valid base64url: {exc}") from None
        return VerifiedJWS(header, payload, key)
    raise error or InvalidSignatureError("signature verification failed")


_sign_header_cache: dict[tuple[str, str | None, str | None], str] = {}


def encode_header(
    alg: str, kid: str | None, headers: Mapping[str, Any] | None, typ: str | None
) -> str:
    """The encoded protected header for signing (cached when no extra headers are given)."""
    cache_key = None if headers else (alg, kid, typ)
    if cache_key is not None:
        seg = _sign_header_cache.get(cache_key)
        if seg is not None:
            return seg
    full: dict[str, Any] = {"alg": alg}
    if typ is not None:
        full["typ"] = typ
    if kid is not None:
        full["kid"] = kid
    if headers:
        reserved = _RESERVED_SIGN_HEADERS & headers.keys()
        if reserved:
            raise ValueError(f"header {sorted(reserved)[0]!r} is set by keywell, not the caller")
        full.update(headers)
    seg = b64url_encode(json.dumps(full, separators=(",", ":")).encode())
    if cache_key is not None and len(_sign_header_cache) < _HEADER_CACHE_SIZE:
        _sign_header_cache[cache_key] = seg
    return seg


def compact(header_segment: str, payload: bytes, signer: SignFn) -> str:
    """Assemble ``header.payload.signature`` from an encoded header and a signer."""
    signing_input = f"{header_segment}.{b64url_encode(payload)}"
    return f"{signing_input}.{b64url_encode(signer(signing_input.encode('ascii')))}"
