"""Interop with PyJWT, joserfc, jwcrypto, python-jose and authlib, for every algorithm each has.

Four directions, each for every (peer, algorithm, key format) the peer supports:

1. the peer verifies keywell's token (claims checked) with keywell's exported public key;
2. keywell verifies the peer's token with the peer's exported public key;
3. the peer imports keywell's exported *private* key, signs, and keywell verifies;
4. keywell imports the peer's exported private key, signs, and the peer verifies.

Pairs are built from the support table in ``interop_peers`` (``Peer.supports``), so
an absent pair is one the peer does not implement, never a skip:

- python-jose implements only HS*, RS* and ES256/384/512 (no PS*, ES256K or EdDSA);
- PyJWT and authlib know ``EdDSA`` but not the RFC 9864 names ``Ed25519``/``Ed448``;
- PyJWT writes no PEM (its keys are ``cryptography`` objects), so directions 2 and 4
  use its JWK export (``Algorithm.to_jwk``) and, for HMAC, the raw secret only.

Key formats: ``jwk`` (a JWK dict) and ``pem`` for asymmetric keys; ``jwk`` and ``raw``
(the secret octets, as most callers hand them to a library) for HMAC.
"""

from __future__ import annotations

import functools
import itertools
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from keywell import JWK, InvalidKeyError, jwt
from keywell.jose.algorithms import ALGORITHMS
from keywell.jose.base64url import b64url_decode
from tests.jose.interop_cases import (
    AUD,
    CASES,
    ISS,
    Case,
    claims_now,
    crypto_key,
    ec_members_full_length,
)
from tests.jose.interop_peers import PEERS, AuthlibPeer, Peer


def _pairs(*, peer_exports: bool) -> list[Any]:
    params = []
    for peer in PEERS:
        for case in CASES.values():
            if case.id not in peer.supports:
                continue  # the peer does not implement this algorithm (see module docstring)
            for fmt in case.formats:
                if peer_exports and fmt not in peer.exports:
                    continue  # the peer has no writer for this format
                params.append(pytest.param(peer, case, fmt, id=f"{peer.name}-{case.id}-{fmt}"))
    return params


@functools.cache
def keywell_key(case_id: str) -> JWK:
    """One keywell private key per case (RSA keys share one modulus to keep the run short)."""
    case = CASES[case_id]
    if case.kty == "oct":
        return JWK.generate(case.alg)
    if case.kty == "RSA":
        return JWK.from_key(_rsa_key(), alg=case.alg, use="sig")
    return JWK.from_key(crypto_key(case), alg=case.alg, use="sig")


@functools.cache
def _rsa_key() -> Any:
    return crypto_key(CASES["RS256"])


@functools.cache
def peer_key(peer: Peer, case_id: str) -> Any:
    """One key per peer and case, made by the peer's own generator."""
    return peer.generate(CASES[case_id])


def _keywell_export(key: JWK, fmt: str, *, private: bool) -> Any:
    if key.is_symmetric:
        members = key.to_dict(private=True)
        return members if fmt == "jwk" else b64url_decode(members["k"])
    if fmt == "jwk":
        return key.to_dict(private=private)
    return key.to_pem(private=private)


def _keywell_import(material: Any, case: Case) -> JWK:
    if isinstance(material, dict):
        return JWK.from_dict(material)
    if case.kty == "oct":
        return JWK.from_secret(material, alg=case.alg)
    return JWK.from_pem(material, alg=case.alg)


def _keywell_decode(token: str, key: JWK, case: Case) -> dict[str, Any]:
    return dict(jwt.decode(token, key, issuer=ISS, audience=AUD, algorithms=[case.alg]))


def _header_alg(token: str) -> str:
    return str(json.loads(b64url_decode(token.split(".")[0]))["alg"])


@pytest.mark.parametrize(("peer", "case", "fmt"), _pairs(peer_exports=False))
def test_peer_verifies_keywell_token(peer: Peer, case: Case, fmt: str) -> None:
    key = keywell_key(case.id)
    claims = claims_now()
    token = jwt.encode(claims, key)
    assert _header_alg(token) == case.alg
    peer_public = peer.import_key(_keywell_export(key, fmt, private=False), case)
    assert peer.verify(peer_public, case, token) == claims


@pytest.mark.parametrize(("peer", "case", "fmt"), _pairs(peer_exports=True))
def test_keywell_verifies_peer_token(peer: Peer, case: Case, fmt: str) -> None:
    private = peer_key(peer, case.id)
    claims = claims_now()
    token = peer.sign(private, case, claims)
    assert _header_alg(token) == case.alg
    key = _keywell_import(peer.export(private, fmt, case, private=False), case)
    assert not key.is_private or key.is_symmetric
    assert _keywell_decode(token, key, case) == claims


@pytest.mark.parametrize(("peer", "case", "fmt"), _pairs(peer_exports=False))
def test_peer_imports_keywell_private_key(peer: Peer, case: Case, fmt: str) -> None:
    key = keywell_key(case.id)
    peer_private = peer.import_key(_keywell_export(key, fmt, private=True), case)
    claims = claims_now()
    token = peer.sign(peer_private, case, claims)
    verifier = key if key.is_symmetric else key.public()
    assert _keywell_decode(token, verifier, case) == claims


@pytest.mark.parametrize(("peer", "case", "fmt"), _pairs(peer_exports=True))
def test_keywell_imports_peer_private_key(peer: Peer, case: Case, fmt: str) -> None:
    private = peer_key(peer, case.id)
    key = _keywell_import(peer.export(private, fmt, case, private=True), case)
    assert key.is_private
    claims = claims_now()
    token = jwt.encode(claims, key, alg=case.alg)
    assert peer.verify(peer.public(private, case), case, token) == claims
    if not key.is_symmetric:  # the public halves agree, member for member
        theirs = _keywell_import(peer.export(private, fmt, case, private=False), case)
        assert theirs.thumbprint() == key.thumbprint()


def test_support_table_covers_every_keywell_algorithm() -> None:
    assert {c.alg for c in CASES.values()} == set(ALGORITHMS)
    for name in ("pyjwt", "joserfc", "jwcrypto"):
        peer = next(p for p in PEERS if p.name == name)
        assert {"RS256", "PS256", "ES256", "ES256K", "EdDSA-Ed25519", "HS256"} <= peer.supports


def test_authlib_short_ec_coordinates_refused() -> None:
    """authlib writes EC coordinates in the fewest octets; RFC 7518 6.2.1.2 fixes their length.

    keywell refuses such a JWK (a short coordinate is where invalid-curve and
    parsing-differential attacks start) yet reads the same key from authlib's PEM.
    """
    curve = ec.SECP521R1()
    scalar = next(
        i
        for i in itertools.count(2)
        if ec.derive_private_key(i, curve).public_key().public_numbers().x.bit_length() <= 520
    )
    pem = JWK.from_key(ec.derive_private_key(scalar, curve), alg="ES512").to_pem(private=True)
    theirs = AuthlibPeer().import_key(pem, CASES["ES512"])
    members = theirs.as_dict(is_private=False)
    assert not ec_members_full_length(members)
    with pytest.raises(InvalidKeyError, match="exactly 66 octets"):
        JWK.from_dict(members)
    from_pem = JWK.from_pem(theirs.as_pem(is_private=False), alg="ES512")
    assert from_pem.public_key.public_numbers().x.bit_length() <= 520
