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

import json
import re
from collections.abc import Container, Iterable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol

from keywell.errors import (
    AlgorithmError,
    InvalidHeaderError,
    InvalidSignatureError,
    MalformedTokenError,
    TokenTooLargeError,
    UnsupportedAlgorithmError,
)
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
    "loads_object",
    "parse_header",
    "sign",
    "split",
    "verify",
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


class _DuplicateMemberError(ValueError):
    pass


def _object_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateMemberError
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259 section 6)")


_strict_decoder = json.JSONDecoder(object_pairs_hook=_object_hook, parse_constant=_no_constant)
_fast_decoder = json.JSONDecoder(parse_constant=_no_constant)
_QUOTE_SPACE = re.compile(r'"[ \t\n\r]')


def loads_object(data: bytes, what: str) -> dict[str, Any]:
    """Parse UTF-8 JSON that must be an object without duplicate members.

    The fast path parses with the C decoder and then proves there were no
    duplicates without a Python hook: if the text holds one ``{`` and no
    quote followed by whitespace, every member name is immediately followed
    by ``":``, so the names in the text number at most ``count(b'":')``;
    when that equals the parsed object's size, no name was repeated. Any
    other text (nested objects, spaced JSON, escapes) takes the strict path,
    which checks every object with a hook.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedTokenError(f"{what} is not UTF-8") from None
    try:
        obj, end = _fast_decoder.raw_decode(text)
    except (ValueError, RecursionError):
        obj, end = None, -1
    if (
        end == len(text)
        and type(obj) is dict
        and text.count("{") == 1
        and text.count('":') == len(obj)
        and not _QUOTE_SPACE.search(text)
    ):
        return _without_lone_surrogates(obj, text, what)
    try:
        obj = _strict_decoder.decode(text)
    except _DuplicateMemberError:
        raise MalformedTokenError(f"{what} has duplicate members") from None
    except ValueError:
        raise MalformedTokenError(f"{what} is not valid JSON") from None
    except RecursionError:
        raise MalformedTokenError(f"{what} nests JSON too deeply") from None
    if type(obj) is not dict:
        raise MalformedTokenError(f"{what} is not a JSON object")
    return _without_lone_surrogates(obj, text, what)


def _without_lone_surrogates(obj: dict[str, Any], text: str, what: str) -> dict[str, Any]:
    r"""Refuse ``\uD800``-style lone surrogates (I-JSON, RFC 7493 section 2.1).

    Strict UTF-8 decoding already refused raw surrogates, so only a ``\u``
    escape can produce one: the check costs a substring search otherwise.
    """
    if "\\u" in text:
        try:
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedTokenError(f"{what} holds a lone surrogate (RFC 7493)") from None
        except RecursionError:
            raise MalformedTokenError(f"{what} nests JSON too deeply") from None
    return obj


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
    result = (MappingProxyType(header), alg, kid)
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


def verify_compact(
    token: str | bytes,
    keys: KeySource,
    algorithms: Container[str] | None,
    crit: Iterable[str],
    max_size: int,
) -> VerifiedJWS:
    """:func:`verify` with positional arguments, for callers on the hot path."""
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


def compact(header_segment: str, payload: bytes, signer: SignFn) -> str:
    """Assemble ``header.payload.signature`` from an encoded header and a signer."""
    signing_input = f"{header_segment}.{b64url_encode(payload)}"
    return f"{signing_input}.{b64url_encode(signer(signing_input.encode('ascii')))}"
