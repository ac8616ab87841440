"""Build the JWKS fixtures under tests/lint/fixtures/, one per lint finding.

Run once by hand (``.venv/bin/python tests/lint/build_fixtures.py``); the
files are checked in and the goldens under tests/lint/golden/ are rendered
from them (``KEYWELL_UPDATE_GOLDEN=1 .venv/bin/pytest tests/lint``). Every key
is freshly generated with ``cryptography``; certificates are self-signed with
fixed validity windows (expired in 2001, valid until 2099, valid from 2090).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from keywell import JWK
from keywell.jose.base64url import b64url_decode, b64url_encode

HERE = Path(__file__).resolve().parent / "fixtures"
VALID = (datetime(2020, 1, 1, tzinfo=UTC), datetime(2099, 12, 31, tzinfo=UTC))
EXPIRED = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2001, 1, 1, tzinfo=UTC))
FUTURE = (datetime(2090, 1, 1, tzinfo=UTC), datetime(2099, 12, 31, tzinfo=UTC))


def ec_key(kid: str = "sig-1", **extra: Any) -> tuple[dict[str, Any], Any]:
    private = ec.generate_private_key(ec.SECP256R1())
    members = JWK.from_key(private.public_key(), kid=kid, alg="ES256", use="sig").to_dict()
    members.update(extra)
    return members, private


def cert_for(private: Any, window: tuple[datetime, datetime]) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "keywell lint fixture")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(window[0])
        .not_valid_after(window[1])
        .sign(private, hashes.SHA256())
    )


def with_cert(members: dict[str, Any], cert: x509.Certificate) -> dict[str, Any]:
    der = cert.public_bytes(serialization.Encoding.DER)
    return {
        **members,
        "x5c": [base64.b64encode(der).decode()],
        "x5t": b64url_encode(cert.fingerprint(hashes.SHA1())),  # noqa: S303
        "x5t#S256": b64url_encode(cert.fingerprint(hashes.SHA256())),
    }


def rsa_members(bits: int, kid: str, **extra: Any) -> dict[str, Any]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    numbers = private.public_key().public_numbers()
    members = {
        "kty": "RSA",
        "kid": kid,
        "alg": "RS256",
        "use": "sig",
        "n": b64url_encode(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        "e": "AQAB",
    }
    members.update(extra)
    return members


def build() -> dict[str, Any]:
    good, good_private = ec_key()
    sets: dict[str, Any] = {}
    sets["clean"] = {"keys": [good, rsa_members(2048, "sig-2")]}
    sets["invalid-json"] = '{"keys": [ {"kty": "EC", '
    sets["empty-set"] = {"keys": []}
    sets["key-not-object"] = {"keys": [good, "not a key"]}

    leaked = JWK.from_key(good_private, kid="sig-1", alg="ES256", use="sig")
    sets["private-members"] = {"keys": [leaked.to_dict(private=True)]}
    # A single private JWK, not a set: not-a-jwks *and* private-members (issue 12 item 12).
    sets["not-a-jwks"] = leaked.to_dict(private=True)
    secret = JWK.generate("HS256", kid="hmac-1").to_dict(private=True)
    sets["symmetric-key"] = {"keys": [{**secret, "use": "sig"}]}
    sets["weak-rsa"] = {"keys": [rsa_members(1024, "rsa-1024")]}
    sets["alg-mismatch"] = {"keys": [{**good, "alg": "RS256"}]}
    other, _ = ec_key()
    sets["duplicate-kid"] = {"keys": [good, other]}
    sets["repeated-key"] = {"keys": [good, dict(good)]}  # one key listed twice: not ambiguous
    sets["alg-none"] = {"keys": [{**good, "alg": "none"}]}
    sets["use-alg-conflict"] = {"keys": [{**good, "use": "enc"}]}

    own_cert = cert_for(good_private, VALID)
    _, stranger = ec_key()
    sets["x5c-key-mismatch"] = {"keys": [with_cert(good, cert_for(stranger, VALID))]}
    sets["x5t-mismatch"] = {
        "keys": [{**with_cert(good, own_cert), "x5t": "AAAAAAAAAAAAAAAAAAAAAAAAAAA"}]
    }
    sets["x5t-s256-mismatch"] = {
        "keys": [{**with_cert(good, own_cert), "x5t#S256": b64url_encode(b"\x00" * 32)}]
    }
    sets["x5c-expired"] = {"keys": [with_cert(good, cert_for(good_private, EXPIRED))]}
    sets["x5c-not-yet-valid"] = {"keys": [with_cert(good, cert_for(good_private, FUTURE))]}
    sets["x5c-invalid"] = {"keys": [{**good, "x5c": ["bm90IGEgY2VydGlmaWNhdGU="]}]}

    sets["missing-kid"] = {"keys": [{k: v for k, v in good.items() if k != "kid"}]}
    sets["missing-alg"] = {"keys": [{k: v for k, v in good.items() if k != "alg"}]}
    sets["missing-use"] = {"keys": [{k: v for k, v in good.items() if k != "use"}]}
    padded = rsa_members(2048, "rsa-padded")
    padded["n"] = b64url_encode(b"\x00" + b64url_decode(padded["n"]))
    sets["non-canonical"] = {"keys": [padded]}
    enc = rsa_members(2048, "enc-1", alg="RSA-OAEP-256", use="enc")
    sets["enc-key-in-signing-set"] = {"keys": [good, enc]}
    sets["unknown-member"] = {"keys": [{**good, "issuer": "https://login.example.com"}]}
    sets["unknown-alg"] = {"keys": [{**good, "alg": "ES256-FANCY"}]}
    sets["unknown-use"] = {"keys": [{**good, "use": "signing"}]}
    sets["invalid-member"] = {"keys": [{**good, "kid": 42}]}
    sets["use-key-ops-conflict"] = {"keys": [{**good, "key_ops": ["verify", "encrypt"]}]}
    off_curve = {**good, "y": good["x"]}
    sets["invalid-key"] = {"keys": [off_curve]}
    sets["unsupported-key"] = {
        "keys": [
            good,
            {
                "kty": "EC",
                "crv": "P-192",
                "kid": "old",
                "alg": "ES192",
                "use": "sig",
                "x": "AAAA",
                "y": "AAAA",
            },
        ]
    }
    return sets


def build_stray() -> dict[str, Any]:
    """Documents that are no JWK Set yet hold a private or secret JWK (issue 12 item 3).

    Under ``fixtures/stray-secrets/``: each must be reported ``not-a-jwks``
    *and* the leak, critical, wherever the JWK sits.
    """
    private = JWK.generate("ES256", kid="sig-1").to_dict(private=True)
    public = {k: v for k, v in private.items() if k != "d"}
    rsa = JWK.generate("RS256", kid="rsa-1").to_dict(private=True)
    secret = JWK.generate("HS256", kid="hmac-1").to_dict(private=True)
    no_kty = {k: v for k, v in private.items() if k != "kty"}
    return {
        "bare-array": [private],
        "keys-is-an-object": {"keys": private},
        "nested-set": {"jwks": {"keys": [public, private]}},
        "deep": {"a": [{"b": {"c": [[rsa]]}}]},
        "symmetric-in-array": [secret],
        "no-kty": {"key": no_kty},
        "odd-member-name": {"my keys": [private]},
        "beside-a-set": {"keys": [public], "backup": private},
    }


def main() -> None:
    HERE.mkdir(exist_ok=True)
    for name, doc in build().items():
        text = doc if isinstance(doc, str) else json.dumps(doc, indent=2) + "\n"
        (HERE / f"{name}.json").write_text(text)
    (HERE / "stray-secrets").mkdir(exist_ok=True)
    for name, doc in build_stray().items():
        (HERE / "stray-secrets" / f"{name}.json").write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
