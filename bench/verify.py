"""JWT verify / sign / JWKS benchmark: keywell and its peers against raw ``cryptography``.

Usage::

    .venv/bin/python bench/verify.py            # full run (~2 min), updates bench/RESULTS.md
    .venv/bin/python bench/verify.py --quick    # ~20 s, prints only
    .venv/bin/python bench/verify.py --json out.json --ops verify --algs ES256,HS256

Operations (one markdown table each; a row per algorithm, a column per library):

- ``verify``: signature plus exp/iss/aud checks, key prepared once; *cold*:
  every call takes the next of 12,000 distinct valid tokens (more than
  keywell's token cache holds), so no library verifies a token twice in a row
  and keywell's cache never hits (checked after the run);
- ``sign``: sign the same claims with a ``kid`` header;
- ``jwks``: pick the key by ``kid`` from a 3-key set, then verify as above (cold too);
- the **API mix** (``bench/_apimix.py``): 1,000 distinct valid tokens, each
  verified 20 times in shuffled order, mean cost per verification.

The reference column ``raw`` is the primitive alone: split, base64url-decode,
``cryptography`` verify over the signing input, ``json.loads`` of the payload
(no claim checks). ``ratio = raw_time / lib_time``; 1.00x is as fast as raw.

Cases come from a registry: ``@case(op, lib)`` registers a builder that takes an
:class:`AlgFixture` and returns the callable to time (or ``None`` when the
library does not support that algorithm). :data:`OPS` declares each operation
and how its cases are sanity-checked (``kind="verify"``: takes a token, returns
claims, must reject bad tokens; ``kind="sign"``: returns a token the raw
verifier accepts). A new operation (e.g. a remote JWK Set) is one ``OPS`` entry
plus its ``@case`` builders; fixtures and tokens are shared.
"""

from __future__ import annotations

import argparse
import base64
import functools
import itertools
import json
import secrets
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _apimix as apimix
import _harness as h

with warnings.catch_warnings():
    # authlib.jose announces its own deprecation on import (after forcing "always" on it).
    import authlib.deprecate  # noqa: F401

    warnings.simplefilter("ignore")
    import jose.jwk as pj_jwk
    import jose.jwt as pj_jwt
    import jwt as pyjwt
    import oxyjwt
    import webtoken
    from authlib.jose import JsonWebKey, JsonWebToken
    from joserfc import jwt as jrfc_jwt
    from joserfc.jwk import JWKRegistry, KeySet
    from joserfc.jwt import JWTClaimsRegistry
    from jwcrypto import jwk as jc_jwk
    from jwcrypto import jwt as jc_jwt

# joserfc warns on every use of the polymorphic "EdDSA" name (RFC 9864); the cost of the
# warning machinery stays in its timings, only the printing is silenced.
warnings.filterwarnings("ignore", message="EdDSA is deprecated")

import keywell  # noqa: E402
from keywell import jwt as kw_jwt  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS_MD = HERE / "RESULTS.md"

ALGS = ("RS256", "PS256", "ES256", "EdDSA", "HS256")
LIBS = ("keywell", "oxyjwt", "webtoken", "PyJWT", "joserfc", "jwcrypto", "python-jose", "authlib")
REF = "raw"
RAW_SODIUM = "raw-libsodium"  # EdDSA only: the primitive keywell uses when PyNaCl is installed
DISTS = (
    "keywell",
    "cryptography",
    "PyNaCl",
    "oxyjwt",
    "webtoken",
    "PyJWT",
    "joserfc",
    "jwcrypto",
    "python-jose",
    "Authlib",
)
#: Libraries of the API mix (each pass verifies 20,000 tokens per library and algorithm).
API_LIBS = ("keywell", "oxyjwt", "webtoken", "PyJWT")
COLD_TOKENS = 12_000  # distinct tokens per algorithm: more than keywell's cache keeps


ISS = "https://issuer.example.com"
AUD = "api://bench"
SUB = "user-1234"

# The targets (issue 2): keywell's verify ratio floors; and fastest everywhere.
TIE = 1.03  # a lead smaller than this is reported as within noise
#: What each column times (printed under the tables).
CALLS = {
    "raw": "split, base64url-decode, cryptography verify (ES256: r||s to DER; HS256: a keyed "
    "hmac.HMAC copied per call), json.loads; sign: json.dumps + b64 + sign + b64",
    "keywell": "Verifier(JWK or JWKSet, issuer=, audience=).verify(token) (defaults: token "
    "cache on, Ed25519 through libsodium); jwt.encode(claims, jwk)",
    "oxyjwt": "oxyjwt.decode(token, DecodingKey.from_jwk(jwk), algorithms=, audience=, issuer=, "
    "options={'require': ['exp']}); jwks: PyJWKSet[kid].key; sign: EncodingKey.from_*_pem",
    "webtoken": "webtoken.decode(token, PyJWK(jwk), algorithms=, audience=, issuer=, "
    "options={'require': ['exp']}); jwks: a dict of PyJWK by kid (no set type)",
    "PyJWT": "jwt.decode(token, PyJWK, algorithms=, audience=, issuer=, "
    "options={'require': ['exp']}); jwks: PyJWKSet[get_unverified_header(token)['kid']]",
    "joserfc": "jwt.decode(token, key or KeySet, algorithms=) + JWTClaimsRegistry.validate",
    "jwcrypto": "json.loads(JWT(jwt=, key=JWK or JWKSet, algs=, check_claims=).claims)",
    "python-jose": "jwt.decode(token, Key, algorithms=, audience=, issuer=, "
    "options={'require_exp': True}); jwks: dict of Keys by kid (no set API); no PS256/EdDSA",
    "authlib": "JsonWebToken([alg]).decode(token, key or KeySet, claims_options=) + "
    ".validate(); sign with check=False",
}
NOISY = 0.10  # median relative IQR above which a run is flagged
CLOCK_NOTE = {"cpu": "thread CPU time", "wall": "wall-clock time"}
VERIFY_FLOORS = {"RS256": 0.90, "PS256": 0.90, "ES256": 0.90, "EdDSA": 0.90, "HS256": 0.90}
API_NOTE = "the rounds' whole-pass times (thread CPU time, GC on, a fresh verifier per pass)"
API_LEAD = 3.0  # issue 15: on the API mix, keywell >= 3x faster than the fastest peer


@dataclass(frozen=True)
class Op:
    """One benchmarked operation: a table in the output."""

    name: str
    kind: str  # "verify": fn(token) -> claims; "sign": fn() -> token
    title: str
    token_attr: str = "token"  # the AlgFixture attribute holding the token to verify


OPS: dict[str, Op] = {
    "verify": Op("verify", "verify", "Verify, cold (signature + exp/iss/aud; no token seen twice)"),
    "sign": Op("sign", "sign", "Sign (same claims, kid header)"),
    "jwks": Op("jwks", "verify", "JWKS, cold: select by kid in a 3-key set, then verify"),
}

Builder = Callable[["AlgFixture"], Callable[..., Any] | None]
REGISTRY: dict[tuple[str, str], Builder] = {}


def case(op: str, lib: str) -> Callable[[Builder], Builder]:
    """Register ``builder`` as library ``lib``'s implementation of operation ``op``."""

    def deco(builder: Builder) -> Builder:
        if op not in OPS:
            raise ValueError(f"unknown op {op!r}")
        REGISTRY[op, lib] = builder
        return builder

    return deco


# --------------------------------------------------------------------------- fixtures


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int(value: int, length: int | None = None) -> str:
    length = length or max(1, (value.bit_length() + 7) // 8)
    return b64e(value.to_bytes(length, "big"))


def make_key(alg: str) -> Any:
    """A fresh ``cryptography`` private key (or HMAC secret) for ``alg``."""
    if alg in ("RS256", "PS256"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    return secrets.token_bytes(32)


def jwk_dict(key: Any, alg: str, kid: str, *, private: bool) -> dict[str, Any]:
    """The JWK of ``key`` (built here from the numbers, not by any library under test)."""
    base = {"alg": alg, "kid": kid, "use": "sig"}
    if isinstance(key, bytes):
        return {"kty": "oct", "k": b64e(key), **base}
    if isinstance(key, rsa.RSAPrivateKey):
        pn = key.private_numbers()
        d = {"kty": "RSA", "n": _int(pn.public_numbers.n), "e": _int(pn.public_numbers.e)}
        if private:
            d |= {"d": _int(pn.d), "p": _int(pn.p), "q": _int(pn.q)}
            d |= {"dp": _int(pn.dmp1), "dq": _int(pn.dmq1), "qi": _int(pn.iqmp)}
        return {**d, **base}
    if isinstance(key, ec.EllipticCurvePrivateKey):
        en = key.private_numbers()
        d = {"kty": "EC", "crv": "P-256"}
        d |= {"x": _int(en.public_numbers.x, 32), "y": _int(en.public_numbers.y, 32)}
        if private:
            d["d"] = _int(en.private_value, 32)
        return {**d, **base}
    from cryptography.hazmat.primitives import serialization as ser

    pub = key.public_key().public_bytes(ser.Encoding.Raw, ser.PublicFormat.Raw)
    d = {"kty": "OKP", "crv": "Ed25519", "x": b64e(pub)}
    if private:
        raw = key.private_bytes(ser.Encoding.Raw, ser.PrivateFormat.Raw, ser.NoEncryption())
        d["d"] = b64e(raw)
    return {**d, **base}


_SHA256 = hashes.SHA256()
_PKCS1 = padding.PKCS1v15()
_PSS = padding.PSS(mgf=padding.MGF1(_SHA256), salt_length=32)  # RFC 7518 3.5: salt = hash size
_ECDSA = ec.ECDSA(_SHA256)


def raw_sign_fn(alg: str, key: Any) -> Callable[[bytes], bytes]:
    """Sign the signing input with the primitive only."""
    if alg == "RS256":
        return lambda data: key.sign(data, _PKCS1, _SHA256)
    if alg == "PS256":
        return lambda data: key.sign(data, _PSS, _SHA256)
    if alg == "ES256":

        def sign_es(data: bytes) -> bytes:
            r, s = decode_dss_signature(key.sign(data, _ECDSA))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")

        return sign_es
    if alg == "EdDSA":
        return key.sign  # type: ignore[no-any-return]

    keyed = hmac.HMAC(key, _SHA256)  # keyed once; copying it is cheaper than re-keying

    def sign_hs(data: bytes) -> bytes:
        mac = keyed.copy()
        mac.update(data)
        return mac.finalize()

    return sign_hs


def raw_verify_fn(alg: str, key: Any) -> Callable[[str], dict[str, Any]]:
    """Verify a compact JWS with the primitive alone and return its payload (no claim checks)."""
    if alg in ("RS256", "PS256"):
        pub, pad = key.public_key(), _PKCS1 if alg == "RS256" else _PSS

        def verify_rsa(token: str) -> dict[str, Any]:
            hseg, pseg, sseg = token.split(".")
            pub.verify(b64d(sseg), f"{hseg}.{pseg}".encode(), pad, _SHA256)
            return json.loads(b64d(pseg))  # type: ignore[no-any-return]

        return verify_rsa
    if alg == "ES256":
        pub = key.public_key()

        def verify_es(token: str) -> dict[str, Any]:
            hseg, pseg, sseg = token.split(".")
            sig = b64d(sseg)
            if len(sig) != 64:
                raise InvalidSignature
            der = encode_dss_signature(
                int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
            )
            pub.verify(der, f"{hseg}.{pseg}".encode(), _ECDSA)
            return json.loads(b64d(pseg))  # type: ignore[no-any-return]

        return verify_es
    if alg == "EdDSA":
        pub = key.public_key()

        def verify_ed(token: str) -> dict[str, Any]:
            hseg, pseg, sseg = token.split(".")
            pub.verify(b64d(sseg), f"{hseg}.{pseg}".encode())
            return json.loads(b64d(pseg))  # type: ignore[no-any-return]

        return verify_ed

    keyed = hmac.HMAC(key, _SHA256)

    def verify_hs(token: str) -> dict[str, Any]:
        hseg, pseg, sseg = token.split(".")
        mac = keyed.copy()
        mac.update(f"{hseg}.{pseg}".encode())
        mac.verify(b64d(sseg))
        return json.loads(b64d(pseg))  # type: ignore[no-any-return]

    return verify_hs


def raw_encode(claims: Mapping[str, Any], header_seg: str, sign: Callable[[bytes], bytes]) -> str:
    """json.dumps + base64url + primitive sign + base64url (the header segment is constant)."""
    signing_input = f"{header_seg}.{b64e(json.dumps(claims, separators=(',', ':')).encode())}"
    return f"{signing_input}.{b64e(sign(signing_input.encode()))}"


@dataclass
class AlgFixture:
    """Keys, key sets and tokens for one algorithm, built before any timing."""

    alg: str
    kid: str
    key: Any  # cryptography private key, or HMAC secret bytes
    private_jwk: dict[str, Any]
    public_jwk: dict[str, Any]  # the private JWK for HS256 (a secret has no public half)
    jwks: dict[str, Any]  # 3 keys; ``kid`` is the middle one
    claims: dict[str, Any]
    header_seg: str
    token: str
    bad: dict[str, str]  # tokens every verifier must reject, by reason
    raw_verifiers: dict[str, Callable[[str], dict[str, Any]]]  # by kid
    stream: list[str]  # distinct valid tokens (``sub`` and ``jti`` differ), same key and kid

    @property
    def raw_verify(self) -> Callable[[str], dict[str, Any]]:
        return self.raw_verifiers[self.kid]


def build_fixture(alg: str, now: int) -> AlgFixture:
    keys = [make_key(alg) for _ in range(3)]
    kids = [f"{alg.lower()}-{i}" for i in range(3)]
    kid, key = kids[1], keys[1]
    sym = alg == "HS256"
    jwks = {"keys": [jwk_dict(k, alg, i, private=sym) for k, i in zip(keys, kids, strict=True)]}
    header = {"alg": alg, "typ": "JWT", "kid": kid}
    header_seg = b64e(json.dumps(header, separators=(",", ":")).encode())
    claims = {"iss": ISS, "sub": SUB, "aud": AUD, "iat": now, "exp": now + 86400, "scope": "read"}
    sign = raw_sign_fn(alg, key)
    token = raw_encode(claims, header_seg, sign)
    hseg, pseg, sseg = token.split(".")
    sig = bytearray(b64d(sseg))
    sig[len(sig) // 2] ^= 0x01
    other = raw_encode({**claims, "sub": "admin"}, header_seg, sign).split(".")[1]
    bad = {
        "tampered signature": f"{hseg}.{pseg}.{b64e(bytes(sig))}",
        "swapped payload": f"{hseg}.{other}.{sseg}",
        "expired": raw_encode({**claims, "exp": now - 3600}, header_seg, sign),
        "wrong issuer": raw_encode({**claims, "iss": "https://evil.example"}, header_seg, sign),
        "wrong audience": raw_encode({**claims, "aud": "api://other"}, header_seg, sign),
        "missing exp": raw_encode(
            {k: v for k, v in claims.items() if k != "exp"}, header_seg, sign
        ),
    }
    stream = [
        raw_encode({**claims, "sub": f"user-{i:06d}", "jti": f"{i:016x}"}, header_seg, sign)
        for i in range(COLD_TOKENS)
    ]
    return AlgFixture(
        alg=alg,
        kid=kid,
        key=key,
        private_jwk=jwk_dict(key, alg, kid, private=True),
        public_jwk=jwk_dict(key, alg, kid, private=sym),
        jwks=jwks,
        claims=claims,
        header_seg=header_seg,
        token=token,
        bad=bad,
        raw_verifiers={i: raw_verify_fn(alg, k) for k, i in zip(keys, kids, strict=True)},
        stream=stream,
    )


#: Tokens the raw reference must reject too (it checks no claims).
SIGNATURE_FAULTS = ("tampered signature", "swapped payload")

# --------------------------------------------------------------------------- raw


@case("verify", REF)
def raw_verify(fx: AlgFixture) -> Callable[[str], Any]:
    return fx.raw_verify


@case("verify", RAW_SODIUM)
def raw_sodium_verify(fx: AlgFixture) -> Callable[[str], Any] | None:
    if fx.alg != "EdDSA":
        return None
    from nacl.bindings import crypto_sign_open

    pub = fx.key.public_key().public_bytes_raw()

    def verify_sodium(token: str) -> dict[str, Any]:
        hseg, pseg, sseg = token.split(".")
        crypto_sign_open(b64d(sseg) + f"{hseg}.{pseg}".encode(), pub)
        return json.loads(b64d(pseg))  # type: ignore[no-any-return]

    return verify_sodium


@case("sign", REF)
def raw_sign(fx: AlgFixture) -> Callable[[], str]:
    return functools.partial(raw_encode, fx.claims, fx.header_seg, raw_sign_fn(fx.alg, fx.key))


@case("jwks", REF)
def raw_jwks(fx: AlgFixture) -> Callable[[str], Any]:
    by_kid = fx.raw_verifiers

    def verify(token: str) -> Any:
        kid = json.loads(b64d(token[: token.index(".")]))["kid"]
        return by_kid[kid](token)

    return verify


# --------------------------------------------------------------------------- keywell


#: Every keywell Verifier the cold cases built: their caches must not have hit.
KEYWELL_VERIFIERS: list[keywell.Verifier] = []


@case("verify", "keywell")
def keywell_verify(fx: AlgFixture) -> Callable[[str], Any]:
    key = keywell.JWK.from_dict(fx.public_jwk)
    verifier = keywell.Verifier(key, issuer=ISS, audience=AUD)
    KEYWELL_VERIFIERS.append(verifier)
    return verifier.verify


@case("sign", "keywell")
def keywell_sign(fx: AlgFixture) -> Callable[[], str]:
    return functools.partial(kw_jwt.encode, fx.claims, keywell.JWK.from_dict(fx.private_jwk))


@case("jwks", "keywell")
def keywell_jwks(fx: AlgFixture) -> Callable[[str], Any]:
    keys = keywell.JWKSet.from_dict(fx.jwks, public=fx.alg != "HS256")
    verifier = keywell.Verifier(keys, issuer=ISS, audience=AUD)
    KEYWELL_VERIFIERS.append(verifier)
    return verifier.verify


# --------------------------------------------------------------------------- oxyjwt (Rust)


def _oxyjwt_decode(fx: AlgFixture) -> Callable[[str, Any], Any]:
    return functools.partial(
        oxyjwt.decode, algorithms=[fx.alg], audience=AUD, issuer=ISS, options={"require": ["exp"]}
    )


@case("verify", "oxyjwt")
def oxyjwt_verify(fx: AlgFixture) -> Callable[[str], Any]:
    key, decode = oxyjwt.DecodingKey.from_jwk(fx.public_jwk), _oxyjwt_decode(fx)
    return lambda token: decode(token, key)


@case("sign", "oxyjwt")
def oxyjwt_sign(fx: AlgFixture) -> Callable[[], str]:
    from cryptography.hazmat.primitives import serialization as ser

    if isinstance(fx.key, bytes):
        key = oxyjwt.EncodingKey.from_secret(fx.key)
    else:
        pem = fx.key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption())
        make = {"ES256": "from_ec_pem", "EdDSA": "from_ed_pem"}.get(fx.alg, "from_rsa_pem")
        key = getattr(oxyjwt.EncodingKey, make)(pem)
    return functools.partial(
        oxyjwt.encode, fx.claims, key, algorithm=fx.alg, headers={"kid": fx.kid}
    )


@case("jwks", "oxyjwt")
def oxyjwt_jwks(fx: AlgFixture) -> Callable[[str], Any]:
    keyset, decode, header = (
        oxyjwt.PyJWKSet.from_dict(fx.jwks),
        _oxyjwt_decode(fx),
        oxyjwt.get_unverified_header,
    )
    return lambda token: decode(token, keyset[header(token)["kid"]].key)


# --------------------------------------------------------------------------- webtoken (Rust)


def _webtoken_decode(fx: AlgFixture) -> Callable[[str, Any], Any]:
    return functools.partial(
        webtoken.decode, algorithms=[fx.alg], audience=AUD, issuer=ISS, options={"require": ["exp"]}
    )


@case("verify", "webtoken")
def webtoken_verify(fx: AlgFixture) -> Callable[[str], Any]:
    key, decode = webtoken.PyJWK(fx.public_jwk), _webtoken_decode(fx)
    return lambda token: decode(token, key)


@case("sign", "webtoken")
def webtoken_sign(fx: AlgFixture) -> Callable[[], str]:
    key = webtoken.PyJWK(fx.private_jwk)
    return functools.partial(
        webtoken.encode, fx.claims, key, algorithm=fx.alg, headers={"kid": fx.kid}
    )


@case("jwks", "webtoken")
def webtoken_jwks(fx: AlgFixture) -> Callable[[str], Any]:
    by_kid = {k["kid"]: webtoken.PyJWK(k) for k in fx.jwks["keys"]}
    decode, header = _webtoken_decode(fx), webtoken.get_unverified_header
    return lambda token: decode(token, by_kid[header(token)["kid"]])


# --------------------------------------------------------------------------- PyJWT


def _pyjwt_decode(fx: AlgFixture) -> Callable[[str, Any], Any]:
    return functools.partial(
        pyjwt.decode, algorithms=[fx.alg], audience=AUD, issuer=ISS, options={"require": ["exp"]}
    )


@case("verify", "PyJWT")
def pyjwt_verify(fx: AlgFixture) -> Callable[[str], Any]:
    key, decode = pyjwt.PyJWK(fx.public_jwk), _pyjwt_decode(fx)
    return lambda token: decode(token, key)


@case("sign", "PyJWT")
def pyjwt_sign(fx: AlgFixture) -> Callable[[], str]:
    key = pyjwt.PyJWK(fx.private_jwk)
    return functools.partial(pyjwt.encode, fx.claims, key, headers={"kid": fx.kid})


@case("jwks", "PyJWT")
def pyjwt_jwks(fx: AlgFixture) -> Callable[[str], Any]:
    keyset, decode, header = (
        pyjwt.PyJWKSet.from_dict(fx.jwks),
        _pyjwt_decode(fx),
        pyjwt.get_unverified_header,
    )
    return lambda token: decode(token, keyset[header(token)["kid"]])


# --------------------------------------------------------------------------- joserfc


def _joserfc_claims() -> JWTClaimsRegistry:
    return JWTClaimsRegistry(
        iss={"essential": True, "value": ISS},
        aud={"essential": True, "value": AUD},
        exp={"essential": True},
    )


def _joserfc_verifier(key: Any, alg: str) -> Callable[[str], Any]:
    registry, algorithms, decode = _joserfc_claims(), [alg], jrfc_jwt.decode

    def verify(token: str) -> Any:
        claims = decode(token, key, algorithms=algorithms).claims
        registry.validate(claims)
        return claims

    return verify


@case("verify", "joserfc")
def joserfc_verify(fx: AlgFixture) -> Callable[[str], Any]:
    return _joserfc_verifier(JWKRegistry.import_key(fx.public_jwk), fx.alg)


@case("sign", "joserfc")
def joserfc_sign(fx: AlgFixture) -> Callable[[], str]:
    key = JWKRegistry.import_key(fx.private_jwk)
    header = {"alg": fx.alg, "kid": fx.kid}
    return functools.partial(jrfc_jwt.encode, header, fx.claims, key, algorithms=[fx.alg])


@case("jwks", "joserfc")
def joserfc_jwks(fx: AlgFixture) -> Callable[[str], Any]:
    return _joserfc_verifier(KeySet.import_key_set(fx.jwks), fx.alg)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- jwcrypto


def _jwcrypto_verifier(key: Any, alg: str) -> Callable[[str], Any]:
    checks, algs, jwt_cls, loads = (
        {"iss": ISS, "aud": AUD, "exp": None},
        [alg],
        jc_jwt.JWT,
        json.loads,
    )
    return lambda token: loads(jwt_cls(jwt=token, key=key, algs=algs, check_claims=checks).claims)


@case("verify", "jwcrypto")
def jwcrypto_verify(fx: AlgFixture) -> Callable[[str], Any]:
    return _jwcrypto_verifier(jc_jwk.JWK(**fx.public_jwk), fx.alg)


@case("sign", "jwcrypto")
def jwcrypto_sign(fx: AlgFixture) -> Callable[[], str]:
    key, claims = jc_jwk.JWK(**fx.private_jwk), fx.claims
    header = {"alg": fx.alg, "typ": "JWT", "kid": fx.kid}

    def sign() -> str:
        token = jc_jwt.JWT(header=header, claims=claims)
        token.make_signed_token(key)
        return token.serialize()  # type: ignore[no-any-return]

    return sign


@case("jwks", "jwcrypto")
def jwcrypto_jwks(fx: AlgFixture) -> Callable[[str], Any]:
    return _jwcrypto_verifier(jc_jwk.JWKSet.from_json(json.dumps(fx.jwks)), fx.alg)


# --------------------------------------------------------------------------- python-jose
# python-jose implements neither RSASSA-PSS nor EdDSA: those cells are n/a.

_PYJOSE_ALGS = frozenset({"RS256", "ES256", "HS256"})


def _pyjose_decode(fx: AlgFixture) -> Callable[[str, Any], Any]:
    return functools.partial(
        pj_jwt.decode,
        algorithms=[fx.alg],
        audience=AUD,
        issuer=ISS,
        options={"require_exp": True},
    )


@case("verify", "python-jose")
def pyjose_verify(fx: AlgFixture) -> Callable[[str], Any] | None:
    if fx.alg not in _PYJOSE_ALGS:
        return None
    key, decode = pj_jwk.construct(fx.public_jwk, fx.alg), _pyjose_decode(fx)
    return lambda token: decode(token, key)


@case("sign", "python-jose")
def pyjose_sign(fx: AlgFixture) -> Callable[[], str] | None:
    if fx.alg not in _PYJOSE_ALGS:
        return None
    key = pj_jwk.construct(fx.private_jwk, fx.alg)
    return functools.partial(
        pj_jwt.encode, fx.claims, key, algorithm=fx.alg, headers={"kid": fx.kid}
    )


@case("jwks", "python-jose")
def pyjose_jwks(fx: AlgFixture) -> Callable[[str], Any] | None:
    # python-jose's only "set" support tries every key, re-importing each per call;
    # picking by kid from a dict of imported keys is the fast idiom.
    if fx.alg not in _PYJOSE_ALGS:
        return None
    by_kid = {k["kid"]: pj_jwk.construct(k, fx.alg) for k in fx.jwks["keys"]}
    decode, header = _pyjose_decode(fx), pj_jwt.get_unverified_header
    return lambda token: decode(token, by_kid[header(token)["kid"]])


# --------------------------------------------------------------------------- authlib

_AUTHLIB_OPTIONS = {
    "iss": {"essential": True, "value": ISS},
    "aud": {"essential": True, "value": AUD},
    "exp": {"essential": True},
}


def _authlib_verifier(key: Any, alg: str) -> Callable[[str], Any]:
    decode = functools.partial(JsonWebToken([alg]).decode, claims_options=_AUTHLIB_OPTIONS)

    def verify(token: str) -> Any:
        claims = decode(token, key)
        claims.validate()
        return claims

    return verify


@case("verify", "authlib")
def authlib_verify(fx: AlgFixture) -> Callable[[str], Any]:
    return _authlib_verifier(JsonWebKey.import_key(fx.public_jwk), fx.alg)


@case("sign", "authlib")
def authlib_sign(fx: AlgFixture) -> Callable[[], Any]:
    key = JsonWebKey.import_key(fx.private_jwk)
    header = {"alg": fx.alg, "kid": fx.kid}
    encode = JsonWebToken([fx.alg]).encode
    # check=False skips authlib's scan of the claims for secrets: the fastest correct call.
    return lambda: encode(dict(header), fx.claims, key, check=False)


@case("jwks", "authlib")
def authlib_jwks(fx: AlgFixture) -> Callable[[str], Any]:
    return _authlib_verifier(JsonWebKey.import_key_set(fx.jwks), fx.alg)


# --------------------------------------------------------------------------- sanity


def _expect_reject(fn: Callable[[str], Any], token: str, what: str) -> None:
    try:
        fn(token)
    except Exception:
        return
    raise AssertionError(f"accepted a token with {what}")


def sanity(op: Op, lib: str, fx: AlgFixture, fn: Callable[..., Any]) -> None:
    """Prove ``fn`` does the real work before it is timed (raises AssertionError)."""
    if op.kind == "sign":
        token = fn()
        token = token.decode() if isinstance(token, bytes) else token
        header = json.loads(b64d(token.split(".")[0]))
        assert header["alg"] == fx.alg, header
        assert header.get("kid") == fx.kid, header
        assert fx.raw_verify(token) == fx.claims, "signed claims differ"
        return
    claims = fn(getattr(fx, op.token_attr))
    assert dict(claims) == fx.claims, f"wrong claims {dict(claims)!r}"
    faults = SIGNATURE_FAULTS if lib in (REF, RAW_SODIUM) else tuple(fx.bad)
    for what in faults:
        _expect_reject(fn, fx.bad[what], what)


# --------------------------------------------------------------------------- report


def build_cases(
    ops: list[str], algs: list[str], libs: list[str], fixtures: dict[str, AlgFixture]
) -> tuple[list[h.Case], list[str]]:
    cases, failures = [], []
    for op_name in ops:
        op = OPS[op_name]
        for alg in algs:
            fx = fixtures[alg]
            for lib in (REF, RAW_SODIUM, *libs):
                builder = REGISTRY.get((op_name, lib))
                fn = builder(fx) if builder else None
                if fn is None:
                    continue
                try:
                    sanity(op, lib, fx, fn)
                except AssertionError as exc:
                    failures.append(f"{op_name}/{alg}/{lib}: {exc}")
                    continue
                if op.kind == "sign":
                    cases.append(h.Case(op_name, alg, lib, fn))
                else:
                    cases.append(h.Case(op_name, alg, lib, _cold(fn, fx.stream)))
    return cases, failures


def _cold(fn: Callable[[str], Any], tokens: list[str]) -> Callable[[], Any]:
    """Call ``fn`` with the next token of ``tokens``, round and round (a cold stream).

    A keywell verifier forgets its cached tokens each time the stream starts
    over, so no token is ever a hit: the cost timed is a cold verification
    plus storing the token (or, once the cache is full, remembering it once).
    """
    owner = getattr(fn, "__self__", None)
    if not isinstance(owner, keywell.Verifier):
        following = itertools.cycle(tokens).__next__
        return lambda: fn(following())
    clear, count, state = owner.clear_cache, len(tokens), [0]

    def call() -> Any:
        i = state[0]
        if i == count:
            i = 0
            clear()
        state[0] = i + 1
        return fn(tokens[i])

    return call


def _spread(res: h.Results, op: str, alg: str, lib: str) -> str:
    q = res.paired_quartiles(op, alg, lib, REF)
    return f" (per-round quartiles {q[0]:.2f}-{q[2]:.2f})" if q else ""


def targets(
    res: h.Results,
    ops: list[str],
    algs: list[str],
    libs: list[str],
    leads: dict[str, tuple[float, str, float]],
) -> list[str]:
    lines = []
    if "verify" in ops:
        for alg in algs:
            floor = VERIFY_FLOORS[alg]
            r = res.ratio("verify", alg, "keywell", REF)
            if r is None:
                continue
            spread = _spread(res, "verify", alg, "keywell")
            if alg == "EdDSA" and res.get("verify", alg, RAW_SODIUM) is not None:
                rs = res.ratio("verify", alg, "keywell", RAW_SODIUM) or 0.0
                ok = "met" if rs >= floor else "MISSED"
                lines.append(
                    f"- cold verify {alg}: keywell {rs:.3f}x the raw libsodium primitive it uses, "
                    f"target >= {floor:.2f}x: {ok}"
                )
                ok = "met" if r >= 1.0 else "MISSED"
                lines.append(
                    f"- cold verify {alg}: keywell {r:.3f}x the raw OpenSSL primitive{spread}, "
                    f"target >= 1.00x: {ok}"
                )
                continue
            ok = "met" if r >= floor else "MISSED"
            lines.append(
                f"- cold verify {alg}: keywell {r:.3f}x raw{spread}, target >= {floor:.2f}x: {ok}"
            )
    hits = sum(v.health().hits for v in KEYWELL_VERIFIERS)
    lines.append(f"- cold cases: keywell's token cache hits during the run: {hits} (must be 0)")
    for alg, (lead, peer, _) in leads.items():
        ok = "met" if lead >= API_LEAD else "MISSED"
        lines.append(
            f"- API mix {alg}: keywell {lead:.1f}x faster per verification than the fastest "
            f"peer ({peer}), target >= {API_LEAD:g}x: {ok}"
        )
    for op in ops:
        for alg in algs:
            ratios = {lib: res.ratio(op, alg, lib, REF) for lib in libs}
            present = {k: v for k, v in ratios.items() if v is not None}
            if "keywell" not in present or len(present) < 2:
                continue
            best = max(present, key=lambda k: present[k])
            kw = present["keywell"]
            if best == "keywell":
                second = max(v for k, v in present.items() if k != "keywell")
                tie = " (a lead within noise)" if kw / second < TIE else ""
                lines.append(f"- {op} {alg}: keywell fastest, {kw / second:.2f}x the next{tie}")
            elif present[best] / kw < TIE:
                lines.append(
                    f"- {op} {alg}: tied within noise, {best} {present[best]:.3f}x vs keywell "
                    f"{kw:.3f}x"
                )
            else:
                lines.append(
                    f"- {op} {alg}: fastest is {best} ({present[best]:.2f}x) vs keywell ({kw:.2f}x)"
                )
    return lines


def source_state() -> str:
    """The keywell commit measured, marked dirty when src/ has uncommitted changes."""
    import subprocess

    root = HERE.parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "--no-optional-locks", "status", "--porcelain", "--", "src"],  # noqa: S607
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha} + uncommitted changes in src/" if dirty else sha


def render(
    res: h.Results,
    ops: list[str],
    algs: list[str],
    libs: list[str],
    *,
    command: str,
    batch_ms: float,
    started: str,
    machine: str,
    failures: list[str],
    api: str,
    leads: dict[str, tuple[float, str, float]],
    memory: list[str],
) -> str:
    vers = h.versions(DISTS)
    parts = [
        f"Command: `{command}`  ",
        f"Date: {started}; {res.rounds} interleaved rounds, ~{batch_ms:g} ms batches, medians, "
        f"{CLOCK_NOTE[res.clock]}.  ",
        f"Machine: {machine}  ",
        f"keywell source: {source_state()}  ",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()),
        "",
        f"Cells are `raw time / library time` (higher is better; 1.00x = as fast as the raw "
        f"`cryptography` primitive, which checks no claims). The `{REF} µs/op` column is the "
        f"absolute raw time. Bold = fastest library in the row. "
        f"Loop overhead subtracted: {res.overhead_ns:.0f} ns/op.",
    ]
    for op in ops:
        parts += ["", f"### {OPS[op].title}", "", h.ratio_table(res, op, algs, libs, ref=REF)]
        if op == "verify" and res.get(op, "EdDSA", RAW_SODIUM) is not None:
            sodium = res.get(op, "EdDSA", RAW_SODIUM)
            assert sodium is not None
            r = res.ratio(op, "EdDSA", "keywell", RAW_SODIUM)
            parts += [
                "",
                f"EdDSA through libsodium (PyNaCl `crypto_sign_open`), the primitive keywell uses: "
                f"raw {sodium.median / 1000:.1f} µs/op; keywell {r:.2f}x that.",
            ]
    if api:
        parts += [
            "",
            "### API mix: 1,000 distinct valid tokens x 20, shuffled (µs per verification)",
        ]
        parts += ["", api, "", f"Each cell is the median of {API_NOTE}."]
    if memory:
        parts += ["", "### keywell's token cache: memory (tracemalloc)", "", *memory]
    mid, worst = res.noise()
    parts += ["", f"Noise: IQR/median per case, median {mid:.1%}, worst {worst:.1%}."]
    if mid > NOISY:
        parts.append(f"**Noisy run** (median spread over {NOISY:.0%}): rerun on a quieter machine.")
    parts += ["", "Calls timed:", ""]
    parts += [f"- {col}: {CALLS[col]}" for col in (REF, *libs) if col in CALLS]
    parts += ["", "ryjwt (Rust-backed) needs Python 3.12; this run is CPython 3.11: not measured."]
    parts += ["", "Targets (issue 15):", "", *targets(res, ops, algs, libs, leads)]
    if failures:
        parts += ["", "Excluded after failing the sanity check:", ""]
        parts += [f"- {f}" for f in failures]
    return "\n".join(parts)


def _api_builders(libs: list[str]) -> dict[str, apimix.Builder]:
    builders: dict[str, apimix.Builder] = {REF: REGISTRY["verify", REF]}  # type: ignore[dict-item]
    for lib in API_LIBS:
        if lib in libs:
            builders[lib] = REGISTRY["verify", lib]  # type: ignore[assignment]
    return builders


def run_api_mix(
    fixtures: dict[str, AlgFixture],
    algs: list[str],
    libs: list[str],
    rounds: int,
    say: Callable[[str], None],
) -> tuple[str, dict[str, tuple[float, str, float]], dict[tuple[str, str], list[float]]]:
    """The API-mix table, keywell's lead per alg, and the raw samples (ns/verification)."""
    if rounds <= 0 or "keywell" not in libs:
        return "", {}, {}
    builders = _api_builders(libs)
    wrong: list[str] = []
    cold = len(KEYWELL_VERIFIERS)

    def check(alg: str, lib: str, verify: Callable[[str], Any]) -> None:
        owner = getattr(verify, "__self__", None)
        if lib == "keywell" and isinstance(owner, keywell.Verifier):
            health = owner.health()
            if (health.hits, health.misses) != (19_000, 1_000):
                wrong.append(f"{alg}: {health}")

    say(f"API mix: {rounds} rounds of 20,000 verifications per library and algorithm ...")
    samples = apimix.run(
        {alg: fixtures[alg] for alg in algs},
        builders,
        rounds=rounds,
        after_pass=check,
        progress=say,
    )
    text, leads = apimix.table(samples, algs, list(builders), REF)
    if wrong:
        text += "\n\nkeywell's cache did not see exactly 1,000 misses per pass: " + "; ".join(wrong)
    del KEYWELL_VERIFIERS[cold:]  # the API mix's verifiers are not cold cases
    return text, leads, samples


def cache_memory_lines(fixtures: dict[str, AlgFixture], algs: list[str]) -> list[str]:
    """Memory of a default keywell Verifier after 10,000 distinct tokens, per algorithm."""
    lines = [
        "| alg | token length | entries kept | measured MB | counted MB (the bound) |",
        "|---|---:|---:|---:|---:|",
    ]
    for alg in algs:
        fx = fixtures[alg]
        key = keywell.JWK.from_dict(fx.public_jwk)
        tokens = [t.encode() for t in fx.stream[:10_000]]
        used, health = apimix.cache_memory(
            lambda key=key: keywell.Verifier(key, issuer=ISS, audience=AUD), tokens
        )
        lines.append(
            f"| {alg} | {len(tokens[0])} | {health.entries:,} | {used / 1e6:.1f} | "
            f"{health.bytes / 1e6:.1f} |"
        )
    lines += [
        "",
        "Default bounds: 10,000 entries and 19 MiB as the cache counts bytes (an over-estimate "
        "of what tracemalloc measures, checked in tests/jose/test_token_cache_memory.py).",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="~20 s run (fewer, shorter rounds)")
    ap.add_argument("--rounds", type=int, help="timed rounds (default 60, quick 24)")
    ap.add_argument("--batch-ms", type=float, help="target batch time (default 12, quick 5)")
    ap.add_argument(
        "--budget",
        type=float,
        metavar="SECONDS",
        help="stop timing after this wall time, with fewer rounds (default 140, quick 15)",
    )
    ap.add_argument("--ops", default=",".join(OPS), help="comma list of " + ",".join(OPS))
    ap.add_argument("--algs", default=",".join(ALGS), help="comma list of " + ",".join(ALGS))
    ap.add_argument("--libs", default=",".join(LIBS), help="comma list of " + ",".join(LIBS))
    ap.add_argument(
        "--clock",
        choices=sorted(h.CLOCKS),
        default="cpu",
        help="cpu: thread CPU time (default; robust on a shared machine); wall: perf_counter",
    )
    ap.add_argument("--api-rounds", type=int, help="API-mix rounds, 0 to skip (default 5, quick 2)")
    ap.add_argument("--json", metavar="PATH", help="also write machine-readable results")
    ap.add_argument(
        "--write",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="update bench/RESULTS.md (default: on for full runs, off with --quick or filters)",
    )
    args = ap.parse_args(argv)
    ops, algs, libs = (s.split(",") for s in (args.ops, args.algs, args.libs))
    for given, known in ((ops, OPS), (algs, ALGS), (libs, LIBS)):
        unknown = set(given) - set(known)
        if unknown:
            ap.error(f"unknown: {sorted(unknown)}")
    rounds = args.rounds or (24 if args.quick else 60)
    batch_ms = args.batch_ms or (5.0 if args.quick else 12.0)
    budget = args.budget if args.budget is not None else (15.0 if args.quick else 140.0)
    filtered = (ops, algs, libs) != (list(OPS), list(ALGS), list(LIBS))
    write = args.write if args.write is not None else not (args.quick or filtered)
    command = ".venv/bin/python bench/verify.py" + (" " + " ".join(argv or sys.argv[1:])).rstrip()

    started, machine = h.now_utc(), h.machine_note()

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    say(f"building keys and tokens for {', '.join(algs)} ...")
    now = int(time.time())
    fixtures = {alg: build_fixture(alg, now) for alg in algs}
    cases, failures = build_cases(ops, algs, libs, fixtures)
    for f in failures:
        say(f"SANITY FAILURE {f}")
    if any("/keywell:" in f or f"/{REF}:" in f for f in failures):
        return 1
    say(f"{len(cases)} cases pass the sanity check; timing {rounds} rounds ...")
    res = h.measure(
        cases,
        rounds=rounds,
        batch_s=batch_ms / 1000,
        clock=args.clock,
        budget_s=budget or None,
        progress=say,
    )
    api_rounds = args.api_rounds if args.api_rounds is not None else (2 if args.quick else 5)
    api, leads, api_samples = run_api_mix(fixtures, algs, libs, api_rounds, say)
    memory = cache_memory_lines(fixtures, algs)
    report = render(
        res,
        ops,
        algs,
        libs,
        command=command,
        batch_ms=batch_ms,
        started=started,
        machine=machine,
        failures=failures,
        api=api,
        leads=leads,
        memory=memory,
    )
    print(report)
    if write:
        h.replace_section(RESULTS_MD, "verify", report, title="bench/verify.py")
        say(f"updated {RESULTS_MD}")
    if args.json:
        doc = {
            "command": command,
            "date": started,
            "machine": machine,
            "versions": h.versions(DISTS),
            "rounds": res.rounds,
            "batch_ms": batch_ms,
            "clock": res.clock,
            "overhead_ns": res.overhead_ns,
            "reference": REF,
            "failures": failures,
            "results": res.to_json(REF),
            "api_mix_ns": {f"{a}/{lib}": v for (a, lib), v in api_samples.items()},
        }
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        say(f"wrote {args.json}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
