"""Keys, token forgery and the refusal check shared by the attack suite.

Every forged token is built from raw parts here, the way an attacker would,
without going through keywell's signer. :func:`refused` asserts the *exact*
error class (not a parent) and that the message never carries key material.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from keywell import JWK, JWKSet, KeywellError, jwt
from keywell.jose.base64url import b64url_decode, b64url_encode

NOW = 1_700_000_000
ISS = "https://issuer.example"
AUD = "api://attacks"
CLAIMS: dict[str, Any] = {"iss": ISS, "aud": AUD, "sub": "alice", "iat": NOW, "exp": NOW + 300}
#: A fixed HMAC secret: the attack tokens signed with it are the same on every run.
HS_SECRET = bytes(range(0x41, 0x41 + 32))


@functools.cache
def hs_key() -> JWK:
    """The victim's HS256 key, kid ``hs``."""
    return JWK.from_secret(HS_SECRET, alg="HS256", kid="hs")


@functools.cache
def rsa_private() -> rsa.RSAPrivateKey:
    """The victim's RSA key as a ``cryptography`` object."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def rsa_key() -> JWK:
    """The victim's RS256 private key, kid ``rsa``."""
    return JWK.from_key(rsa_private(), alg="RS256", kid="rsa", use="sig")


@functools.cache
def ec_private() -> ec.EllipticCurvePrivateKey:
    """The victim's P-256 key as a ``cryptography`` object."""
    return ec.generate_private_key(ec.SECP256R1())


@functools.cache
def ec_key() -> JWK:
    """The victim's ES256 private key, kid ``ec``."""
    return JWK.from_key(ec_private(), alg="ES256", kid="ec", use="sig")


@functools.cache
def attacker_private() -> ec.EllipticCurvePrivateKey:
    """The attacker's own P-256 key."""
    return ec.generate_private_key(ec.SECP256R1())


@functools.cache
def attacker_key() -> JWK:
    """The attacker's ES256 key, kid ``attacker`` (no victim key has that kid)."""
    return JWK.from_key(attacker_private(), alg="ES256", kid="attacker")


@functools.cache
def victim_set() -> JWKSet:
    """The victim's published verification keys."""
    return JWKSet([rsa_key().public(), ec_key().public()])


def private_secrets() -> list[str]:
    """Every private value the attacks handle, as it would appear in text."""
    out = [b64url_encode(HS_SECRET), HS_SECRET.decode("latin-1"), HS_SECRET.hex()]
    for key in (rsa_key(), ec_key(), attacker_key()):
        members = key.to_dict(private=True)
        out += [members[m] for m in ("d", "p", "q", "dp", "dq", "qi") if m in members]
    return out


def assert_no_secret(text: str) -> None:
    """Fail if ``text`` holds any private member of the suite's keys."""
    for secret in private_secrets():
        assert secret not in text, "private key material in an error message or repr"


def b64json(obj: Any) -> str:
    """Base64url of compact JSON (or of raw bytes/str, sent as they are)."""
    if isinstance(obj, bytes):
        return b64url_encode(obj)
    if isinstance(obj, str):
        return b64url_encode(obj.encode())
    return b64url_encode(json.dumps(obj, separators=(",", ":")).encode())


def forge(
    header: Any,
    payload: Any = None,
    *,
    key: JWK | None = None,
    alg: str | None = None,
    signature: bytes | None = None,
) -> str:
    """A compact token from raw parts, signed by ``key`` (with ``alg``) or given ``signature``."""
    h = b64json(header)
    p = b64json(CLAIMS if payload is None else payload)
    if signature is None:
        if key is None:
            signature = b""
        else:
            _, sign = key.signer(alg)
            signature = sign(f"{h}.{p}".encode())
    return f"{h}.{p}.{b64url_encode(signature)}"


def hmac_forge(header: Any, secret: bytes = HS_SECRET, payload: Any = None) -> str:
    """An HS256 token over raw parts, keyed with ``secret`` (the victim's, or a public key)."""
    h, p = b64json(header), b64json(CLAIMS if payload is None else payload)
    return sign_segments(h, p, secret)


def sign_segments(h: str, p: str, secret: bytes = HS_SECRET) -> str:
    """HS256 over the encoded segments exactly as given, well-formed or not."""
    mac = hmac.HMAC(secret, hashes.SHA256())
    mac.update(f"{h}.{p}".encode())
    return f"{h}.{p}.{b64url_encode(mac.finalize())}"


def signature_of(token: str) -> bytes:
    """The decoded signature segment."""
    return b64url_decode(token.rsplit(".", 1)[1])


def with_signature(token: str, signature: bytes) -> str:
    """The token with its signature replaced."""
    return f"{token.rsplit('.', 1)[0]}.{b64url_encode(signature)}"


def decode(token: str | bytes, keys: Any, **kwargs: Any) -> Any:
    """``jwt.decode`` with the suite's issuer, audience and clock unless overridden."""
    options: dict[str, Any] = {"issuer": ISS, "audience": AUD, "now": NOW}
    options.update(kwargs)
    return jwt.decode(token, keys, **options)


Attack = tuple[type[KeywellError], Callable[[], object], dict[str, Any]]


def registry() -> tuple[dict[str, Attack], Callable[..., Callable[[Callable[[], object]], None]]]:
    """A table of named attacks and the decorator that fills it: ``@attack(name, Error)``."""
    table: dict[str, Attack] = {}

    def attack(
        name: str, expected: type[KeywellError], **attrs: Any
    ) -> Callable[[Callable[[], object]], None]:
        def register(fn: Callable[[], object]) -> None:
            assert name not in table, f"duplicate attack name {name}"
            table[name] = (expected, fn, attrs)

        return register

    return table, attack


def refused(expected: type[KeywellError], call: Callable[[], object], **attrs: Any) -> KeywellError:
    """Run ``call``; require exactly ``expected`` (not a subclass) and a secret-free message."""
    with pytest.raises(KeywellError) as info:
        call()
    exc = info.value
    assert type(exc) is expected, f"{type(exc).__name__}: {exc}"
    for name, value in attrs.items():
        assert getattr(exc, name) == value
    assert exc.code == expected.code
    assert_no_secret(str(exc))
    assert_no_secret(repr(exc))
    return exc
