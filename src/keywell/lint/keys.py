"""Checks on one member of a JWK Set's ``keys`` array (RFC 7517 sections 4 and 5).

The key is judged from its raw JSON members first (so a key that keywell would
refuse outright still gets every finding it deserves), then its key members are
handed to :meth:`keywell.JWK.from_dict` to validate the material itself.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from keywell.errors import InvalidKeyError, KeyNotSupportedError, KeywellError
from keywell.jose.algorithms import ALGORITHMS
from keywell.jose.base64url import b64url_decode
from keywell.jose.jwk import JWK
from keywell.lint.findings import Finding, Severity
from keywell.lint.members import (
    ENC_ALGS,
    ENC_OPS,
    KNOWN_MEMBERS,
    PRIVATE_MEMBERS,
    SIG_OPS,
    enc_alg_fits,
    role_of,
)
from keywell.lint.x5c import check_x5c

__all__ = ["KeyResult", "lint_key", "secret_findings", "short"]

_KEY_MATERIAL = frozenset({"kty", "crv", "x", "y", "n", "e", "k", *PRIVATE_MEMBERS})
_MIN_RSA_BITS = 2048
_PARSEABLE_RSA_BITS = 512  # below this JWK.from_dict refuses even with allow_weak_rsa
_MAX_SHOWN = 64


def short(value: object) -> str:
    """A JSON-ish rendering of ``value`` cut to a readable length (never key material)."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


@dataclass(slots=True)
class KeyResult:
    """What the checks of one key found, and what the set-level checks need from it."""

    findings: list[Finding] = field(default_factory=list)
    kid: str | None = None
    role: str | None = None  # "sig", "enc" or None when it cannot be told


class _Checker:
    def __init__(self, item: Mapping[str, Any], index: int | None) -> None:
        self.item = item
        self.index = index
        kid = item.get("kid")
        self.result = KeyResult(kid=short(kid) if isinstance(kid, str) else None)

    def add(self, severity: Severity, code: str, message: str, advice: str) -> None:
        self.result.findings.append(
            Finding(
                severity=severity,
                code=code,
                message=message,
                advice=advice,
                index=self.index,
                kid=self.result.kid,
            )
        )


def _check_meta(c: _Checker, kty: str | None) -> None:
    item = c.item
    for name in ("kid", "alg", "use"):
        value = item.get(name)
        if name in item and not isinstance(value, str):
            c.add(
                Severity.HIGH,
                "invalid-member",
                f'"{name}" is not a string',
                f'Give "{name}" as a JSON string, or leave it out.',
            )
    if "kid" not in item:
        c.add(
            Severity.MEDIUM,
            "missing-kid",
            'the key has no "kid"',
            'Give every key a unique "kid" (its RFC 7638 thumbprint is a good one) so '
            "verifiers pick the right key without trying each.",
        )
    alg = item.get("alg")
    if "alg" not in item:
        c.add(
            Severity.INFO,
            "missing-alg",
            'the key has no "alg"',
            'Bind the key to the one algorithm it signs with ("alg", RFC 8725 section 3.1).',
        )
    elif isinstance(alg, str) and kty is not None:
        _check_alg(c, alg, kty, item.get("crv"))
    use = item.get("use")
    if "use" not in item:
        c.add(
            Severity.INFO,
            "missing-use",
            'the key has no "use"',
            'Mark signing keys "use": "sig"; some clients skip keys without it.',
        )
    elif isinstance(use, str) and use not in ("sig", "enc"):
        c.add(
            Severity.INFO,
            "unknown-use",
            f'"use" is "{short(use)}", neither "sig" nor "enc"',
            'Use "sig" for signing keys (RFC 7517 section 4.2).',
        )
    ops = item.get("key_ops")
    if isinstance(ops, list) and use in ("sig", "enc"):
        allowed = SIG_OPS if use == "sig" else ENC_OPS
        if not {op for op in ops if isinstance(op, str)} <= allowed:
            c.add(
                Severity.MEDIUM,
                "use-key-ops-conflict",
                f'"use" is "{use}" but "key_ops" lists other operations',
                'Make "key_ops" agree with "use", or drop one of them (RFC 7517 section 4.3).',
            )


def _check_alg(c: _Checker, alg: str, kty: str, crv: object) -> None:
    if alg.lower() == "none":
        c.add(
            Severity.HIGH,
            "alg-none",
            f'"alg" is "{short(alg)}": the key claims unsigned tokens',
            'Set the algorithm the key signs with; "none" is no algorithm for a key '
            "(RFC 8725 section 3.1) and a verifier trusting it would accept forgeries.",
        )
        return
    use = c.item.get("use")
    if (use == "enc" and alg in ALGORITHMS) or (use == "sig" and alg in ENC_ALGS):
        kind = "a signature" if alg in ALGORITHMS else "an encryption"
        c.add(
            Severity.HIGH,
            "use-alg-conflict",
            f'"use" is "{use}" but "alg" "{short(alg)}" is {kind} algorithm',
            'Make "use" and "alg" agree (RFC 7517 section 4.2); verifiers refuse the key '
            "or use it for the wrong purpose.",
        )
    where = f"a key of type {short(kty)}" + (f" on {short(crv)}" if isinstance(crv, str) else "")
    fits: bool | None = None
    if alg in ALGORITHMS:
        fits = ALGORITHMS[alg].fits(kty, crv if isinstance(crv, str) else None)
    elif alg in ENC_ALGS:
        fits = enc_alg_fits(alg, kty, crv)
    if fits is False:
        c.add(
            Severity.HIGH,
            "alg-mismatch",
            f'"alg" "{short(alg)}" does not fit {where}',
            "Set the algorithm that matches the key type and curve; verifiers will refuse "
            "this key or, worse, use it with the wrong algorithm.",
        )
    elif fits is None:
        c.add(
            Severity.INFO,
            "unknown-alg",
            f'"alg" "{short(alg)}" is not a registered JWS or JWE algorithm',
            "Use a registered algorithm name (RFC 7518 section 3).",
        )


def _check_secrets(c: _Checker, kty: str | None) -> None:
    item = c.item
    if kty == "oct":
        c.add(
            Severity.CRITICAL,
            "symmetric-key",
            'a symmetric ("oct") key is published',
            "Remove it now and rotate the secret: anyone who fetched this set can forge "
            "tokens. Symmetric keys are never published.",
        )
        return
    leaked = [name for name in PRIVATE_MEMBERS if name in item]
    if leaked:
        c.add(
            Severity.CRITICAL,
            "private-members",
            f"the key holds private members ({', '.join(leaked)})",
            "Publish the public half only, and treat this private key as compromised: "
            "revoke it and rotate to a new one.",
        )


def secret_findings(item: Mapping[str, Any]) -> list[Finding]:
    """The ``symmetric-key`` / ``private-members`` findings of one JWK (no index)."""
    kty = item.get("kty")
    c = _Checker(item, None)
    _check_secrets(c, kty if isinstance(kty, str) else None)
    return c.result.findings


def _check_rsa_size(c: _Checker) -> int | None:
    n = c.item.get("n")
    if not isinstance(n, str):
        return None
    try:
        bits = int.from_bytes(b64url_decode(n), "big").bit_length()
    except ValueError:
        return None
    if bits < _MIN_RSA_BITS:
        c.add(
            Severity.HIGH,
            "weak-rsa",
            f"RSA modulus of {bits} bits is under {_MIN_RSA_BITS}",
            "Rotate to an RSA key of at least 2048 bits (3072 for use beyond 2030), or to ES256.",
        )
    return bits


def _validate(c: _Checker, rsa_bits: int | None) -> JWK | None:
    if rsa_bits is not None and rsa_bits < _PARSEABLE_RSA_BITS:
        return None  # already reported as weak-rsa; nothing more to learn
    material = {k: v for k, v in c.item.items() if k in _KEY_MATERIAL}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            jwk = JWK.from_dict(material, allow_weak_rsa=True)
    except KeyNotSupportedError as exc:
        c.add(
            Severity.INFO,
            "unsupported-key",
            exc.message,
            "Verifiers that do not know this key type skip it (RFC 7517 section 5); "
            "publish a widely supported key too.",
        )
        return None
    except (KeywellError, ValueError, TypeError, ArithmeticError) as exc:
        message = exc.message if isinstance(exc, InvalidKeyError) else "the key members are invalid"
        c.add(
            Severity.HIGH,
            "invalid-key",
            message,
            "Fix or remove the key: verifiers cannot load it.",
        )
        return None
    zeros = [q.split(":")[0] for q in jwk.quirks if "leading zero" in q]
    if zeros:
        c.add(
            Severity.MEDIUM,
            "non-canonical",
            f"{', '.join(repr(z) for z in zeros)} has a leading zero octet",
            "Encode RSA integers in their minimal form (RFC 7518 section 6.3.1.1); strict "
            "clients refuse padded values.",
        )
    return jwk


def lint_key(item: object, index: int, *, now: datetime) -> KeyResult:
    """Every finding about the ``index``-th member of a set's ``keys`` array."""
    if not isinstance(item, Mapping):
        result = KeyResult()
        result.findings.append(
            Finding(
                severity=Severity.HIGH,
                code="key-not-object",
                message=f"keys[{index}] is not a JSON object",
                advice="Every member of the keys array must be a JWK object (RFC 7517 section 5).",
                index=index,
            )
        )
        return result
    c = _Checker(item, index)
    kty_value = item.get("kty")
    kty = kty_value if isinstance(kty_value, str) else None
    _check_secrets(c, kty)
    _check_meta(c, kty)
    unknown = sorted(short(k) for k in item if k not in KNOWN_MEMBERS)
    if unknown:
        c.add(
            Severity.INFO,
            "unknown-member",
            f"unregistered members: {', '.join(unknown[:8])}{' ...' if len(unknown) > 8 else ''}",
            "Clients ignore them; drop them unless a client of yours needs them.",
        )
    rsa_bits = _check_rsa_size(c) if kty == "RSA" else None
    jwk = _validate(c, rsa_bits)
    if "x5c" in item or "x5t" in item or "x5t#S256" in item:
        public_key = jwk.public_key if jwk is not None else None
        for severity, code, message, advice in check_x5c(item, public_key, now=now):
            c.add(severity, code, message, advice)
    c.result.role = role_of(item.get("use"), item.get("alg"), item.get("key_ops"), item.get("crv"))
    return c.result
