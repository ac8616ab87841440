"""Checks on a JWK's certificate members ``x5c``, ``x5t`` and ``x5t#S256`` (RFC 7517 4.7-4.9).

``x5c`` holds standard base64 (not base64url) DER certificates, the first one
holding the JWK's own public key; ``x5t`` and ``x5t#S256`` are the base64url
SHA-1 and SHA-256 digests of that first certificate's DER. Digests come from
``cryptography`` (``Certificate.fingerprint``).
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from keywell.jose.base64url import b64url_encode
from keywell.lint.findings import Severity

__all__ = ["check_x5c"]

#: (severity, code, message, advice) of one finding, before the key's index is attached.
Raw = tuple[Severity, str, str, str]

_INVALID_ADVICE = (
    'Publish "x5c" as an array of standard base64 DER certificates, the key\'s own first '
    "(RFC 7517 section 4.7), or leave it out."
)


def _spki(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    der: bytes = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der


def _load(chain: object) -> tuple[list[Any], Raw | None]:
    from cryptography import x509

    if not isinstance(chain, list) or not chain:
        return [], (Severity.HIGH, "x5c-invalid", '"x5c" is not a non-empty array', _INVALID_ADVICE)
    certs: list[Any] = []
    for position, entry in enumerate(chain):
        if not isinstance(entry, str):
            bad = f"x5c[{position}] is not a string"
            return certs, (Severity.HIGH, "x5c-invalid", bad, _INVALID_ADVICE)
        try:
            der = binascii.a2b_base64(entry.encode("ascii"), strict_mode=True)
            certs.append(x509.load_der_x509_certificate(der))
        except (ValueError, binascii.Error, UnicodeEncodeError):
            bad = f"x5c[{position}] is not a base64 DER certificate"
            return certs, (Severity.HIGH, "x5c-invalid", bad, _INVALID_ADVICE)
    return certs, None


def _check_dates(certs: list[Any], now: datetime) -> list[Raw]:
    out: list[Raw] = []
    for position, cert in enumerate(certs):
        after, before = cert.not_valid_after_utc, cert.not_valid_before_utc
        if after < now:
            out.append(
                (
                    Severity.MEDIUM,
                    "x5c-expired",
                    f"x5c[{position}] expired on {after:%Y-%m-%d %H:%M:%S} UTC",
                    "Renew the certificate or drop x5c; clients that check the chain will "
                    "refuse this key.",
                )
            )
        elif before > now:
            out.append(
                (
                    Severity.MEDIUM,
                    "x5c-not-yet-valid",
                    f"x5c[{position}] is not valid before {before:%Y-%m-%d %H:%M:%S} UTC",
                    "Check the issuing clock, or publish the certificate once it is valid.",
                )
            )
    return out


def _check_thumbprints(item: Mapping[str, Any], leaf: Any) -> list[Raw]:
    from cryptography.hazmat.primitives import hashes

    out: list[Raw] = []
    for name, code, digest in (
        ("x5t", "x5t-mismatch", hashes.SHA1()),  # noqa: S303 - RFC 7517 4.8 defines x5t as SHA-1
        ("x5t#S256", "x5t-s256-mismatch", hashes.SHA256()),
    ):
        if name not in item:
            continue
        given = item[name]
        if given != b64url_encode(leaf.fingerprint(digest)):
            out.append(
                (
                    Severity.HIGH,
                    code,
                    f'"{name}" does not match the first x5c certificate',
                    f'Recompute "{name}" from the DER of x5c[0], or leave it out; clients '
                    "that select keys by thumbprint will pick the wrong one.",
                )
            )
    return out


def check_x5c(item: Mapping[str, Any], public_key: Any, *, now: datetime) -> list[Raw]:
    """Findings about the certificate members of JWK ``item``.

    ``public_key`` is the JWK's ``cryptography`` public key when it loaded, to
    compare with the certificate's; ``now`` is the time expiry is judged at.
    """
    from cryptography.exceptions import UnsupportedAlgorithm

    if "x5c" not in item:
        return []
    certs, problem = _load(item["x5c"])
    out: list[Raw] = [problem] if problem else []
    if not certs:
        return out
    leaf = certs[0]
    if public_key is not None:
        try:
            same = _spki(leaf.public_key()) == _spki(public_key)
        except (ValueError, UnsupportedAlgorithm):
            same = False
        if not same:
            out.append(
                (
                    Severity.HIGH,
                    "x5c-key-mismatch",
                    "the first x5c certificate holds a different public key than the JWK",
                    "Publish the certificate issued for this very key first in x5c, or drop x5c.",
                )
            )
    out += _check_thumbprints(item, leaf)
    out += _check_dates(certs, now)
    return out
