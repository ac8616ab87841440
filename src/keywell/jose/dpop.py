"""DPoP proofs: make one, check one (RFC 9449 sections 4.2 and 4.3).

:func:`check_proof` follows the checklist of section 4.3; every refusal is a
:class:`~keywell.errors.DPoPProofError` whose ``member`` names what failed:

1. a compact JWS of at most ``max_size`` characters whose header is a JSON
   object with registered members of their JSON types (``DPoP``, ``header``);
2. ``typ`` is ``dpop+jwt`` (``typ``); no ``crit`` (``crit``);
3. ``alg`` is asymmetric and in the policy's list, and fits the key
   (``alg``): the algorithm is bound to the key, never the other way round;
4. ``jwk`` is a public key, parsed as strictly as any JWK keywell reads; a
   private or symmetric member, or an RSA modulus over 4096 bits, is refused
   (``jwk``). This is the one place
   keywell takes a key from a header, and it only ever checks the proof;
5. the signature verifies with that key (``signature``);
6. the claims are a JSON object; ``jti`` (a string of 1..256 characters),
   ``htm``, ``htu`` and ``iat`` are present with their types (each by name);
7. ``htm`` equals the request method (case-sensitive, RFC 9110 9.1);
8. ``htu`` equals the request URI, both normalised without query and
   fragment (:func:`~keywell.jose.dpop_uri.normalize_htu`);
9. ``iat`` lies within the policy's window (``DPoPPolicy.iat_problem``:
   from ``now - leeway`` back to, not including, ``now - max_age - leeway``);
10. a server nonce, when the policy has a nonce source, is current, else
    :class:`~keywell.errors.DPoPNonceError` carrying a fresh one (section 9);
11. ``ath``, when an access token comes with the proof, is the base64url
    SHA-256 of it (section 4.3 step 12).

The replay check (section 11.1) and the token's ``cnf.jkt`` binding are
steps of the request (:mod:`keywell.jose.dpop_request`), done once the
access token is verified too.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

from keywell.errors import (
    AlgorithmError,
    DPoPNonceError,
    DPoPProofError,
    InvalidKeyError,
    TokenError,
)
from keywell.jose._compact import compact, encode_header, parse_header, split
from keywell.jose._frozen import thaw
from keywell.jose._json import loads_object
from keywell.jose.base64url import b64url_decode, b64url_encode
from keywell.jose.claims import normalize_typ
from keywell.jose.dpop_policy import DPoPPolicy
from keywell.jose.dpop_uri import normalize_htu
from keywell.jose.jwk import JWK
from keywell.jose.registered import check_claim_types

__all__ = ["DPoPProof", "access_token_hash", "check_proof", "make_proof"]

_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_MAX_JTI = 256
_MAX_RSA_BITS = 4096  # a client key needs no more; a larger one only makes checking slower
_HEADER_CACHE_SIZE = 512


class DPoPProof(NamedTuple):
    """A checked proof: its header and claims (read-only), its key and that key's thumbprint."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    key: JWK
    jkt: str


class _Header(NamedTuple):
    header: Mapping[str, Any]
    alg: str
    key: JWK
    jkt: str


_header_cache: dict[str, _Header] = {}


def access_token_hash(access_token: str) -> str:
    """The ``ath`` of an access token: base64url SHA-256 of its ASCII octets (RFC 9449 4.2)."""
    return b64url_encode(hashlib.sha256(access_token.encode("ascii")).digest())


_ath_cache: dict[str, str] = {}  # a client sends one token with many proofs


def _ath(access_token: str) -> str:
    found = _ath_cache.get(access_token)
    if found is None:
        found = access_token_hash(access_token)
        if len(_ath_cache) >= _HEADER_CACHE_SIZE:
            _ath_cache.clear()
        _ath_cache[access_token] = found
    return found


def _refuse(message: str, member: str) -> DPoPProofError:
    return DPoPProofError(f"DPoP proof refused: {message}", member=member)


def _proof_key(header: Mapping[str, Any]) -> tuple[JWK, str]:
    if "jwk" not in header:
        raise _refuse('the header has no "jwk"', "jwk")
    members = header["jwk"]  # an object: its type was checked with the header
    if not _PRIVATE_MEMBERS.isdisjoint(members):
        raise _refuse('"jwk" must be a public key; it holds private or secret members', "jwk")
    try:
        key = JWK(thaw(members))  # the cached header is frozen; the parser checks JSON types
    except InvalidKeyError as exc:
        raise _refuse(f'"jwk" is not a usable public key: {exc.message}', "jwk") from None
    if key.kty == "RSA" and key.public_key.key_size > _MAX_RSA_BITS:
        raise _refuse(f'an RSA "jwk" over {_MAX_RSA_BITS} bits is not accepted', "jwk")
    return key, key.thumbprint()


def _checked_header(segment: str) -> _Header:
    """Steps 1-4 for one encoded header, whatever the policy; the result is cached by segment.

    A client sends the same header (its key, its algorithm) with every proof,
    so the JSON parse and the key's validation are paid once per client.
    """
    cached = _header_cache.get(segment)
    if cached is not None:
        return cached
    try:
        header, alg, _ = parse_header(segment)
    except AlgorithmError as exc:
        raise _refuse(exc.message, "alg") from None
    except TokenError as exc:
        raise _refuse(exc.message, getattr(exc, "member", "header")) from None
    typ = header.get("typ")
    if type(typ) is not str or normalize_typ(typ) != "dpop+jwt":
        raise _refuse('header "typ" must be "dpop+jwt"', "typ")
    if "crit" in header:
        raise _refuse('no critical header parameter is understood here ("crit")', "crit")
    key, jkt = _proof_key(header)
    if alg not in key.verify_algorithms:
        raise _refuse(f'alg {alg} does not fit the "jwk" key', "alg")
    found = _Header(header, alg, key, jkt)
    if len(_header_cache) >= _HEADER_CACHE_SIZE:
        _header_cache.clear()
    _header_cache[segment] = found
    return found


def _claims(raw: bytes) -> dict[str, Any]:
    try:
        claims = loads_object(raw, "payload")
        check_claim_types(claims, ("jti", "iat"))
    except TokenError as exc:
        raise _refuse(exc.message, getattr(exc, "claim", "payload")) from None
    for name in ("jti", "htm", "htu", "iat"):
        if name not in claims:
            raise _refuse(f'claim "{name}" is missing', name)
    if not 0 < len(claims["jti"]) <= _MAX_JTI:
        raise _refuse(f'claim "jti" must have 1 to {_MAX_JTI} characters', "jti")
    for name in ("htm", "htu", "nonce", "ath"):
        if name in claims and type(claims[name]) is not str:
            raise _refuse(f'claim "{name}" must be a string', name)
    return claims


def check_proof(
    proof: str,
    *,
    method: str,
    uri: str,
    policy: DPoPPolicy,
    now: float,
    access_token: str | None = None,
) -> DPoPProof:
    """Check a DPoP proof against the request it came with; see the module docstring.

    Args:
        proof: the ``DPoP`` header value.
        method: the request method, e.g. ``"GET"``.
        uri: the request URI as the client addressed it (``https://api.example/x``).
        policy: algorithms, time window, nonces.
        now: the current time, seconds since the epoch.
        access_token: the access token sent with the proof, if any (checks ``ath``).

    Raises:
        DPoPProofError: naming the member at fault; DPoPNonceError when a
            current server nonce is required and missing.
    """
    if type(proof) is not str:
        raise _refuse("the DPoP header must be text", "DPoP")
    try:
        h, p, s, text = split(proof, policy.max_size)
    except TokenError as exc:
        raise _refuse(exc.message, "DPoP") from None
    header, alg, key, jkt = _checked_header(h)
    if alg not in policy.algorithms:
        raise _refuse(f"alg {alg} is not one of the accepted DPoP algorithms", "alg")
    try:
        key.verifier(alg)(text[: len(h) + len(p) + 1].encode("ascii"), b64url_decode(s))
    except (TokenError, ValueError):
        raise _refuse("the signature does not verify", "signature") from None
    try:
        raw = b64url_decode(p)
    except ValueError:
        raise _refuse("the payload is not valid base64url", "payload") from None
    claims = _claims(raw)
    if claims["htm"] != method:
        raise _refuse('"htm" is not the request method', "htm")
    try:
        same = normalize_htu(claims["htu"]) == normalize_htu(uri)
    except ValueError:
        same = False
    if not same:
        raise _refuse('"htu" is not the request URI', "htu")
    problem = policy.iat_problem(claims["iat"], now)
    if problem is not None:
        raise _refuse(problem, "iat")
    nonces = policy.nonces
    if nonces is not None:
        nonce = claims.get("nonce")
        if type(nonce) is not str or not nonces.is_current(nonce, now):
            raise DPoPNonceError("a current server nonce is required", nonce=nonces.issue(now))
    if access_token is not None:
        if "ath" not in claims:
            raise _refuse('claim "ath" is missing', "ath")
        if not access_token.isascii() or claims["ath"] != _ath(access_token):
            raise _refuse('"ath" is not the hash of the access token', "ath")
    return DPoPProof(header, MappingProxyType(claims), key, jkt)


def make_proof(
    key: JWK,
    method: str,
    uri: str,
    *,
    access_token: str | None = None,
    nonce: str | None = None,
    alg: str | None = None,
    now: float | None = None,
) -> str:
    """Sign a DPoP proof for one request (RFC 9449 section 4.2).

    Args:
        key: the client's private key (its public half goes in the ``jwk`` header).
        method: the request method.
        uri: the request URI; query and fragment are left out of ``htu``.
        access_token: the access token sent with the proof (adds ``ath``).
        nonce: the server's latest ``DPoP-Nonce``, if it sent one.
        alg: the signing algorithm (default: the key's own).
        now: the ``iat`` to use, seconds since the epoch (default: the clock).

    Raises:
        InvalidKeyError: the key is symmetric or cannot sign with ``alg``.
    """
    if key.is_symmetric or not key.is_private:
        raise InvalidKeyError("a DPoP proof is signed with an asymmetric private key")
    alg, signer = key.signer(alg)
    parts = urlsplit(uri)
    claims: dict[str, Any] = {
        "jti": secrets.token_urlsafe(24),
        "htm": method,
        "htu": urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")),
        "iat": int(time.time() if now is None else now),
    }
    if nonce is not None:
        claims["nonce"] = nonce
    if access_token is not None:
        claims["ath"] = access_token_hash(access_token)
    public = {k: v for k, v in key.public().to_dict().items() if k not in ("kid", "key_ops")}
    segment = encode_header(alg, None, {"jwk": public}, "dpop+jwt")
    payload = json.dumps(claims, separators=(",", ":")).encode()
    return compact(segment, payload, signer)
