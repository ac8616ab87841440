"""The contract every key custody backend keeps (HSM, Vault/OpenBao Transit, AWS KMS).

A custody holds private keys that never leave it. keywell's lifecycle drives
it through four calls: :meth:`Custody.generate` makes a non-extractable key
and returns the backend's reference plus the public JWK (``kid`` is the
RFC 7638 thumbprint, as for keys in the database); :meth:`Custody.signer`
returns a function giving the JOSE signature form (RFC 7518 section 3: ECDSA
as raw ``r || s`` of the curve's length, RSA PKCS#1 v1.5 and PSS as is);
:meth:`Custody.destroy` destroys a key (or schedules its deletion where the
backend allows no more); :meth:`Custody.refs` lists the keys it holds for a
key set, so keys of transactions that never committed can be found and
destroyed.

Every failure is a :class:`keywell.errors.CustodyError` naming the backend
and the operation, never a credential; every call is bounded by the
custody's per-call ``timeout`` (seconds).
"""

from __future__ import annotations

import re
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from keywell.errors import CustodyError
from keywell.jose.jwk import JWK

if TYPE_CHECKING:
    from keywell.custody.uri import CustodySpec

__all__ = [
    "KEY_NAME_PREFIX",
    "Custody",
    "CustodyKey",
    "SignFn",
    "ec_curve_of",
    "ecdsa_der_to_jose",
    "key_name",
    "key_name_time",
    "public_jwk",
]

SignFn = Callable[[bytes], bytes]

#: Every key keywell makes in a backend is named
#: ``keywell-<key set>-<UTC yyyymmddHHMMSS>-<22 hex>`` (a PKCS#11 ``CKA_LABEL``
#: after the URI's ``object-prefix``, a Transit key name, a KMS tag), so that
#: :meth:`Custody.refs` finds the keys of a set and nothing else, and a key no
#: store row names can be told from one a transaction is still committing by its age.
KEY_NAME_PREFIX = "keywell-"
_STAMP = "%Y%m%d%H%M%S"
_TAIL = re.compile(r"(\d{14})-[0-9a-f]{22}")

_EC_SIZES = {"ES256": 32, "ES384": 48, "ES512": 66}


def key_name(keyset: str, now: datetime | None = None) -> str:
    """A fresh backend key name for ``keyset``: ``keywell-<keyset>-<UTC stamp>-<22 hex>``."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime(_STAMP)
    return f"{KEY_NAME_PREFIX}{keyset}-{stamp}-{secrets.token_hex(11)}"


def key_name_time(name: str, keyset: str) -> datetime | None:
    """When a :func:`key_name` of ``keyset`` was made; ``None`` if ``name`` is not one.

    A name of another set is never taken for one of ``keyset`` (``a`` vs ``a-b``).
    """
    head = f"{KEY_NAME_PREFIX}{keyset}-"
    match = _TAIL.fullmatch(name[len(head) :]) if name.startswith(head) else None
    if match is None:
        return None
    try:
        return datetime.strptime(match.group(1), _STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None


def ecdsa_der_to_jose(der: bytes, alg: str) -> bytes:
    """An ASN.1 DER ECDSA signature as JOSE's raw ``r || s`` (RFC 7518 section 3.4).

    Raises:
        ValueError: ``alg`` is no ECDSA algorithm, or ``der`` is not a DER signature.
    """
    size = _EC_SIZES.get(alg)
    if size is None:
        raise ValueError(f"{alg!r} is no ECDSA algorithm")
    r, s = decode_dss_signature(der)
    if max(r, s).bit_length() > size * 8:
        raise ValueError("r or s is larger than the curve")
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def public_jwk(public_key: Any, alg: str) -> JWK:
    """The published JWK of a backend's public key: ``use: sig``, ``alg``, thumbprint ``kid``.

    ``public_key`` is a ``cryptography`` public key object (RSA, EC or Ed25519).
    """
    jwk = JWK.from_key(public_key, alg=alg, use="sig")
    return JWK.from_dict({**jwk.to_dict(), "kid": jwk.thumbprint()})


@dataclass(frozen=True, slots=True)
class CustodyKey:
    """A key made inside a backend: its reference there and its public JWK.

    ``ref`` is the backend's own name for the key (a PKCS#11 ``CKA_ID`` in hex,
    a Transit key name, a KMS key ARN): it holds no secret and is what the
    store keeps. ``public`` has ``kid`` (RFC 7638 thumbprint), ``alg`` and ``use``.
    """

    ref: str
    public: JWK


class Custody(ABC):
    """A backend holding non-extractable private keys; one instance per custody URI.

    Instances are made by :func:`keywell.custody.open_custody` and are safe to
    share between threads. ``uri`` is the canonical custody URI, which names
    where credentials come from (a file, the environment) but never holds one.
    """

    scheme: ClassVar[str]
    #: The JWS algorithms this backend can generate keys for and sign with.
    algorithms: ClassVar[frozenset[str]]

    def __init__(self, uri: str, *, timeout: float) -> None:
        self.uri = uri
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.uri}>"

    def error(self, operation: str, message: str) -> CustodyError:
        """A :class:`CustodyError` for ``operation``, the message prefixed with the backend."""
        return CustodyError(
            f"{self.scheme} custody: {operation} failed: {message}",
            backend=self.scheme,
            operation=operation,
        )

    def check_algorithm(self, alg: str) -> None:
        """Raise :class:`CustodyError` (operation ``generate``) if ``alg`` is not supported."""
        if alg not in self.algorithms:
            supported = ", ".join(sorted(self.algorithms))
            raise self.error("generate", f"{alg} is not supported here (supported: {supported})")

    @classmethod
    @abstractmethod
    def from_spec(cls, spec: CustodySpec) -> Custody:
        """Open the backend a parsed URI names (reading its credential; no key is made).

        Raises:
            CustodyError: (operation ``open``) the credential is missing or the
                backend cannot be opened.
        """

    @abstractmethod
    def generate(self, alg: str, *, keyset: str, rsa_bits: int = 2048) -> CustodyKey:
        """Make a non-extractable key for ``alg`` named by :func:`key_name` for ``keyset``."""

    @abstractmethod
    def signer(self, ref: str, alg: str) -> SignFn:
        """A function signing a JWS signing input with ``ref``; returns the JOSE signature.

        Looking the key up may be deferred to the first call; either raises
        :class:`CustodyError` (operation ``sign``) when the key is gone or the
        backend refuses.
        """

    @abstractmethod
    def destroy(self, ref: str) -> None:
        """Destroy ``ref`` (or schedule its deletion); a key already gone is no error."""

    @abstractmethod
    def refs(self, keyset: str) -> dict[str, str]:
        """Every key this backend holds for ``keyset``: reference -> :func:`key_name`.

        Keys whose name :func:`key_name_time` does not read as one of ``keyset``
        are left out; keys already destroyed (or scheduled for deletion) too.
        """

    def holds(self, ref: str, keyset: str) -> bool:
        """Whether ``ref`` (a key of ``keyset``) is still held, not destroyed or scheduled for it.

        The default asks :meth:`refs`; a backend with a cheaper lookup overrides it.

        Raises:
            CustodyError: (operation ``refs``) the backend could not be asked.
        """
        return ref in self.refs(keyset)

    @abstractmethod
    def check(self) -> None:
        """Prove the backend is reachable and the credential accepted (cheap; for /readyz)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and sessions; the instance is not used afterwards."""


def ec_curve_of(alg: str) -> ec.EllipticCurve:
    """The curve of an ECDSA algorithm (ES256: P-256, ES384: P-384, ES512: P-521)."""
    return {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}[alg]
