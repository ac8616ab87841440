"""What keywell asks of Vault/OpenBao Transit and how it reads the answers (no I/O).

Per JWS algorithm, the Transit key type and the ``/sign`` parameters that give
the JOSE signature form (RFC 7518 section 3):

====== ============ =========================================================
alg    Transit type ``/sign`` parameters
====== ============ =========================================================
RS256  rsa-N        ``signature_algorithm=pkcs1v15``, ``hash_algorithm=sha2-256``
PS256  rsa-N        ``pss``, ``salt_length=hash`` (RFC 7518 section 3.5), sha2-256
ES256  ecdsa-p256   ``marshaling_algorithm=jws`` (raw ``r || s``), sha2-256
ES384  ecdsa-p384   ``jws``, sha2-384
ES512  ecdsa-p521   ``jws``, sha2-512
EdDSA  ed25519      none (Ed25519 signs the message itself, RFC 8037 section 3.1)
====== ============ =========================================================

A signature comes back as ``vault:v1:<base64>``: standard base64 for RSA and
Ed25519, unpadded base64url for ECDSA with ``jws`` marshaling. Every reader
here raises :class:`ValueError` on an answer of another shape.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import hvac.exceptions
import requests
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from keywell.custody.bounded_http import MAX_ANSWER, AnswerTooLarge
from keywell.jose.base64url import b64url_decode

__all__ = [
    "ALGORITHMS",
    "MAX_ANSWER",
    "RSA_BITS",
    "describe",
    "key_type",
    "public_key",
    "sign_params",
    "signature",
    "type_fits",
]

#: RSA moduli Transit makes (``rsa-2048``, ``rsa-3072``, ``rsa-4096``), in bits.
RSA_BITS = (2048, 3072, 4096)
_RSA = frozenset({"RS256", "PS256"})
_EC_TYPES = {"ES256": "ecdsa-p256", "ES384": "ecdsa-p384", "ES512": "ecdsa-p521"}
_SIGN: dict[str, dict[str, str]] = {
    "RS256": {"signature_algorithm": "pkcs1v15", "hash_algorithm": "sha2-256"},
    "PS256": {"signature_algorithm": "pss", "salt_length": "hash", "hash_algorithm": "sha2-256"},
    "ES256": {"marshaling_algorithm": "jws", "hash_algorithm": "sha2-256"},
    "ES384": {"marshaling_algorithm": "jws", "hash_algorithm": "sha2-384"},
    "ES512": {"marshaling_algorithm": "jws", "hash_algorithm": "sha2-512"},
    "EdDSA": {},
}
#: The JWS algorithms a Transit custody generates keys for and signs with.
ALGORITHMS = frozenset(_SIGN)
# The JOSE signature length in octets (RSA: the modulus length, one of RSA_BITS / 8).
_SIG_LEN = {"ES256": 64, "ES384": 96, "ES512": 132, "EdDSA": 64}
_CURVES = {"ecdsa-p256": "secp256r1", "ecdsa-p384": "secp384r1", "ecdsa-p521": "secp521r1"}
_PREFIX = "vault:v1:"
_E = hvac.exceptions
_STATUS = (
    (_E.InvalidRequest, "400 (bad request)"),
    (_E.Unauthorized, "401 (unauthorized)"),
    (_E.Forbidden, "403 (forbidden)"),
    (_E.InvalidPath, "404 (not found)"),
    (_E.RateLimitExceeded, "429 (rate limited)"),
    (_E.InternalServerError, "500 (internal error)"),
    (_E.VaultNotInitialized, "501 (not initialized)"),
    (_E.BadGateway, "502 (bad gateway)"),
    (_E.VaultDown, "503 (sealed or in standby)"),
)  # keywell signs with key version 1 only


# MAX_ANSWER (bounded_http's, re-exported): the longest answer read from Vault, bytes
# (a key listing of ~100k names fits).


def key_type(alg: str, rsa_bits: int) -> str:
    """The Transit key type for ``alg`` (``rsa-<rsa_bits>`` for RS256 and PS256)."""
    if alg in _EC_TYPES:
        return _EC_TYPES[alg]
    return "ed25519" if alg == "EdDSA" else f"rsa-{rsa_bits}"


def type_fits(found: object, alg: str) -> bool:
    """Whether a Transit key of type ``found`` signs ``alg`` (any RSA size for RS256/PS256)."""
    if not isinstance(found, str):
        return False
    if alg in _RSA:
        return found in {f"rsa-{bits}" for bits in RSA_BITS}
    return found == key_type(alg, 0)


def sign_params(alg: str) -> dict[str, str]:
    """The ``/sign`` body parameters (besides ``input``) giving ``alg``'s JOSE form."""
    return dict(_SIGN[alg])


def public_key(data: object, wanted: str) -> Any:
    """The version-1 public key in a ``keys/NAME`` read (``data`` member) of type ``wanted``.

    Checks that the key is of type ``wanted`` and not exportable. The public
    key is PEM SubjectPublicKeyInfo, except for Ed25519: base64 of the 32 raw
    octets (RFC 8032 section 5.1.5).

    Raises:
        ValueError: the answer has another shape, type or exportability.
    """
    try:
        if not isinstance(data, dict):
            raise TypeError("not an object")
        if data.get("type") != wanted or data.get("exportable") is not False:
            raise ValueError(
                f"the key is of type {data.get('type')!r} with exportable="
                f"{data.get('exportable')!r}, not a non-exportable {wanted}"
            )
        text = data["keys"]["1"]["public_key"]
        key: Any
        if wanted == "ed25519":
            key = ed25519.Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
        else:
            key = load_pem_public_key(text.encode("ascii"))
    except (KeyError, TypeError, AttributeError, binascii.Error, UnicodeError) as exc:
        raise ValueError(f"the key description has another shape ({type(exc).__name__})") from None
    if wanted.startswith("rsa-"):
        fits = isinstance(key, rsa.RSAPublicKey) and f"rsa-{key.key_size}" == wanted
    elif wanted.startswith("ecdsa-"):
        fits = isinstance(key, ec.EllipticCurvePublicKey) and _CURVES[wanted] == key.curve.name
    else:
        fits = isinstance(key, ed25519.Ed25519PublicKey)
    if not fits:
        raise ValueError(f"the public key is not a {wanted} key")
    return key


def signature(answer: object, alg: str) -> bytes:
    """The JOSE signature in a ``/sign`` answer for ``alg``, its form and length checked.

    Raises:
        ValueError: no ``vault:v1:`` signature, bad base64, or the wrong length.
    """
    try:
        text = answer["data"]["signature"]  # type: ignore[index]
    except (KeyError, TypeError, IndexError):
        raise ValueError("the answer holds no signature") from None
    if not isinstance(text, str) or not text.startswith(_PREFIX):
        raise ValueError("the signature is not of key version 1 (vault:v1:...)")
    body = text[len(_PREFIX) :]
    try:
        sig = b64url_decode(body) if alg in _EC_TYPES else base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the signature is not base64 of the expected alphabet") from None
    wanted = _SIG_LEN.get(alg)
    good = len(sig) == wanted if wanted else len(sig) * 8 in RSA_BITS
    if not good:
        raise ValueError(f"the signature is {len(sig)} octets, not an {alg} signature")
    return sig


def describe(exc: BaseException, url: str, timeout: float) -> str:
    """A message for a failed Transit call, written here (never a dependency's text).

    Only Vault's own ``errors`` strings are quoted (at most 300 characters);
    the caller scrubs the token from the result.
    """
    if isinstance(exc, hvac.exceptions.VaultError):
        status = next((s for c, s in _STATUS if isinstance(exc, c)), type(exc).__name__)
        said = "; ".join(str(e) for e in exc.errors or ())[:300]
        return f"{url} answered {status}: {said}" if said else f"{url} answered {status}"
    if isinstance(exc, AnswerTooLarge):
        return f"{url} answered more than the {MAX_ANSWER // 1024 // 1024} MiB keywell reads"
    if isinstance(exc, requests.Timeout):
        return f"{url} did not answer within {timeout:g} s"
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS with {url} failed (check ca-file)"
    if isinstance(exc, requests.ConnectionError):
        return f"cannot reach {url}"
    return f"unexpected {type(exc).__name__} talking to {url}"
