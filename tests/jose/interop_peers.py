"""Adapters over the five JOSE libraries keywell is tested against, and what each supports.

Each :class:`Peer` speaks its library's own API (read from the installed
sources: PyJWT 2.15, joserfc 1.8, jwcrypto 1.6, python-jose 3.5, authlib 1.9):
generate a key with the library's own generator, import a key given as a JWK
dict, PEM or raw secret, export one, sign a JWT, and verify a JWT *with its
claims checked* (iss, aud, exp required).
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator
from typing import Any

import authlib.deprecate  # installs its warning filter before authlib.jose is imported
import jwt as pyjwt
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from jose import jwk as jose_jwk
from jose import jwt as jose_jwt
from joserfc import jwk as rfc_jwk
from joserfc import jwt as rfc_jwt
from joserfc.errors import SecurityWarning
from jwcrypto import jwk as cry_jwk
from jwcrypto import jwt as cry_jwt

from keywell.jose.base64url import b64url_decode, b64url_encode
from tests.jose.interop_cases import (
    ALL,
    AUD,
    HMAC,
    ISS,
    RFC9864,
    Case,
    crypto_key,
    ec_members_full_length,
    size_of,
)

with warnings.catch_warnings():
    # authlib.jose announces its own deprecation (in favour of joserfc) on import.
    warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
    from authlib import jose as authlib_jose


class Peer:
    """One library: what it supports and how its API does each step."""

    name: str = ""
    #: Case ids this library implements; pairs outside it are not generated.
    supports: frozenset[str] = ALL
    #: Key formats the library itself can export (PyJWT has no PEM export).
    exports: frozenset[str] = frozenset({"jwk", "pem", "raw"})

    def generate(self, case: Case) -> Any:
        """A private key made by the library."""
        raise NotImplementedError

    def import_key(self, material: Any, case: Case) -> Any:
        """Import a JWK dict, PEM bytes, or raw secret bytes."""
        raise NotImplementedError

    def export(self, key: Any, fmt: str, case: Case, *, private: bool) -> Any:
        """Export a key the library holds as a JWK dict, PEM bytes or raw secret."""
        raise NotImplementedError

    def sign(self, key: Any, case: Case, claims: dict[str, Any]) -> str:
        """Sign ``claims`` as a compact JWT."""
        raise NotImplementedError

    def verify(self, key: Any, case: Case, token: str) -> dict[str, Any]:
        """Verify ``token`` with iss, aud and exp checked; return its claims."""
        raise NotImplementedError

    def public(self, key: Any, case: Case) -> Any:
        """The public half of a private key the library holds (itself for a secret)."""
        return key

    def __repr__(self) -> str:
        return self.name


class PyJWTPeer(Peer):
    """PyJWT: keys are ``cryptography`` objects; ``Algorithm.to_jwk``/``PyJWK`` convert them."""

    name = "pyjwt"
    supports = ALL - RFC9864  # get_default_algorithms() has EdDSA only, not Ed25519/Ed448
    exports = frozenset({"jwk", "raw"})  # no PEM writer: PEM is cryptography's, not PyJWT's

    def generate(self, case: Case) -> Any:
        return crypto_key(case)

    def import_key(self, material: Any, case: Case) -> Any:
        if isinstance(material, dict):
            return pyjwt.PyJWK.from_dict(material, algorithm=case.alg).key
        return material  # PEM or secret bytes: PyJWT's prepare_key loads them

    def export(self, key: Any, fmt: str, case: Case, *, private: bool) -> Any:
        if fmt == "raw":
            return key
        if case.kty != "oct" and not private:
            key = key.public_key()
        algorithm = pyjwt.get_algorithm_by_name(case.alg)
        return algorithm.to_jwk(key, as_dict=True)

    def sign(self, key: Any, case: Case, claims: dict[str, Any]) -> str:
        return pyjwt.encode(claims, key, algorithm=case.alg)

    def public(self, key: Any, case: Case) -> Any:
        return key if case.kty == "oct" else key.public_key()

    def verify(self, key: Any, case: Case, token: str) -> dict[str, Any]:
        options: Any = {"require": ["exp", "iss", "aud"]}
        return dict(
            pyjwt.decode(
                token, key, algorithms=[case.alg], audience=AUD, issuer=ISS, options=options
            )
        )


class JoserfcPeer(Peer):
    """joserfc: ``import_key``/``generate_key``, ``as_dict``/``as_pem``, a claims registry."""

    name = "joserfc"

    def generate(self, case: Case) -> Any:
        return rfc_jwk.generate_key(case.kty, size_of(case))

    def import_key(self, material: Any, case: Case) -> Any:
        if isinstance(material, dict):
            return rfc_jwk.import_key(material)
        return rfc_jwk.import_key(material, case.kty)

    def export(self, key: Any, fmt: str, case: Case, *, private: bool) -> Any:
        if fmt == "jwk":
            return key.as_dict(private=private)
        if fmt == "raw":
            return key.raw_value
        return key.as_pem(private=private)

    def sign(self, key: Any, case: Case, claims: dict[str, Any]) -> str:
        with _eddsa_deprecation(case):
            return rfc_jwt.encode({"alg": case.alg}, claims, key, algorithms=[case.alg])

    def verify(self, key: Any, case: Case, token: str) -> dict[str, Any]:
        with _eddsa_deprecation(case):
            tok = rfc_jwt.decode(token, key, algorithms=[case.alg])
        rfc_jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": ISS},
            aud={"essential": True, "value": AUD},
            exp={"essential": True},
        ).validate(tok.claims)
        return dict(tok.claims)


@contextlib.contextmanager
def _eddsa_deprecation(case: Case) -> Iterator[None]:
    """joserfc warns that ``EdDSA`` is deprecated by RFC 9864; expect exactly that warning."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        yield
    got = [(w.category, str(w.message)) for w in seen]
    expected = (
        [(SecurityWarning, "EdDSA is deprecated via RFC 9864")] if case.alg == "EdDSA" else []
    )
    assert got == expected, f"unexpected warnings from joserfc: {got}"


class JwcryptoPeer(Peer):
    """jwcrypto: ``JWK.generate``/``JWK(**d)``/``JWK.from_pem``, ``JWT(check_claims=...)``."""

    name = "jwcrypto"

    def generate(self, case: Case) -> Any:
        if case.kty == "RSA":
            return cry_jwk.JWK.generate(kty="RSA", size=2048)
        if case.kty == "oct":
            return cry_jwk.JWK.generate(kty="oct", size=size_of(case))
        return cry_jwk.JWK.generate(kty=case.kty, crv=case.crv)

    def import_key(self, material: Any, case: Case) -> Any:
        if isinstance(material, dict):
            return cry_jwk.JWK(**material)
        if case.kty == "oct":
            return cry_jwk.JWK(kty="oct", k=b64url_encode(material))
        return cry_jwk.JWK.from_pem(material)

    def export(self, key: Any, fmt: str, case: Case, *, private: bool) -> Any:
        if case.kty == "oct":
            members = key.export_symmetric(as_dict=True)
            return members if fmt == "jwk" else b64url_decode(members["k"])
        if fmt == "jwk":
            return key.export(private_key=private, as_dict=True)
        return key.export_to_pem(private_key=private, password=None)

    def sign(self, key: Any, case: Case, claims: dict[str, Any]) -> str:
        tok = cry_jwt.JWT(header={"alg": case.alg}, claims=claims)
        tok.make_signed_token(key)
        return str(tok.serialize())

    def verify(self, key: Any, case: Case, token: str) -> dict[str, Any]:
        tok = cry_jwt.JWT(
            jwt=token,
            key=key,
            algs=[case.alg],
            check_claims={"iss": ISS, "aud": AUD, "exp": None},
            expected_type="JWS",
        )
        return dict(json.loads(tok.claims))


class PythonJosePeer(Peer):
    """python-jose: ``jwk.construct``, ``to_dict``/``to_pem``; HMAC, RSA PKCS#1 v1.5 and ECDSA."""

    name = "python-jose"
    # ALGORITHMS.SUPPORTED: HS*, RS*, ES256/384/512 only: no PSS, no secp256k1, no EdDSA.
    supports = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", *HMAC})

    def generate(self, case: Case) -> Any:
        raw = crypto_key(case)  # python-jose has no generator; it wraps what it is given
        if case.kty != "oct":
            raw = raw.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        return jose_jwk.construct(raw, case.alg)

    def import_key(self, material: Any, case: Case) -> Any:
        return jose_jwk.construct(material, case.alg)

    def export(self, key: Any, fmt: str, case: Case, *, private: bool) -> Any:
        if fmt == "raw":
            return b64url_decode(key.to_dict()["k"])
        if case.kty != "oct" and not private:
            key = key.public_key()
        return key.to_dict() if fmt == "jwk" else key.to_pem()

    def sign(self, key: Any, case: Case, claims: dict[str, Any]) -> str:
        return str(jose_jwt.encode(claims, key, algorithm=case.alg))

    def public(self, key: Any, case: Case) -> Any:
        return key if case.kty == "oct" else key.public_key()

    def verify(self, key: Any, case: Case, token: str) -> dict[str, Any]:
        options = {"require_exp": True, "require_iss": True, "require_aud": True}
        return dict(
            jose_jwt.decode(
                token, key, algorithms=[case.alg], audience=AUD, issuer=ISS, options=options
            )
        )


class AuthlibPeer(Peer):
    """authlib.jose: ``JsonWebKey``, ``JsonWebToken([alg])``, ``claims.validate()``."""

    name = "authlib"
    supports = ALL - RFC9864  # JsonWebSignature registers EdDSA (RFC 8037) only

    def generate(self, case: Case) -> Any:
        while True:
            key = authlib_jose.JsonWebKey.generate_key(case.kty, size_of(case), is_private=True)
            if case.kty != "EC" or ec_members_full_length(key.as_dict(is_private=True)):
                return key
            # authlib writes EC x, y and d in as few octets as the integer needs
            # (int_to_base64), against RFC 7518 6.2.1.2; keywell refuses such keys
            # (test_authlib_short_ec_coordinates_refused). Draw again for this test.

    def import_key(self, material: Any, case: Case) -> Any:
        if isinstance(material, dict):
            return authlib_jose.JsonWebKey.import_key(material)
        return authlib_jose.JsonWebKey.import_key(material, {"kty": case.kty})

    def export(self, key: Any, fmt: str, case: Case, *, private: bool) -> Any:
        if fmt == "jwk":
            return key.as_dict(is_private=private or case.kty == "oct")
        if fmt == "raw":
            return key.get_op_key("sign")
        return key.as_pem(is_private=private)

    def sign(self, key: Any, case: Case, claims: dict[str, Any]) -> str:
        out = authlib_jose.JsonWebToken([case.alg]).encode({"alg": case.alg}, claims, key)
        return out.decode("ascii")

    def verify(self, key: Any, case: Case, token: str) -> dict[str, Any]:
        options = {
            "iss": {"essential": True, "value": ISS},
            "aud": {"essential": True, "value": AUD},
            "exp": {"essential": True},
        }
        claims = authlib_jose.JsonWebToken([case.alg]).decode(token, key, claims_options=options)
        claims.validate()
        return dict(claims)


PEERS: tuple[Peer, ...] = (
    PyJWTPeer(),
    JoserfcPeer(),
    JwcryptoPeer(),
    PythonJosePeer(),
    AuthlibPeer(),
)
