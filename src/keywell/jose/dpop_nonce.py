"""Server-provided DPoP nonces (RFC 9449 sections 8 and 9).

A server that wants proof freshness beyond the ``iat`` window hands out a
nonce in the ``DPoP-Nonce`` response header and refuses proofs without a
current one (``use_dpop_nonce``). :class:`NonceSource` is what the proof
check needs: issue a nonce for ``now``, tell whether a nonce is current.

:class:`HMACNonces` needs no shared state between replicas beyond a secret:
a nonce is the time window's number and an HMAC-SHA-256 tag over it, and is
current during its window and the next one (so a nonce issued just before a
window ends still works for one full window).
"""

from __future__ import annotations

import re
import struct
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac

from keywell.jose.base64url import b64url_decode, b64url_encode

__all__ = ["HMACNonces", "NonceSource", "is_nonce_text"]

_TAG = 32  # octets of HMAC-SHA-256
_NQCHAR = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 9449 section 8.1 (and 4.2)


def is_nonce_text(value: object) -> bool:
    """Whether ``value`` can be a nonce: ``1*NQCHAR`` (RFC 9449 section 8.1), at most 1024 chars.

    Printable ASCII without double quote and backslash: what a ``DPoP-Nonce`` header
    carries as is. Anything else a nonce source hands out is never sent.
    """
    return type(value) is str and len(value) <= 1024 and _NQCHAR.fullmatch(value) is not None


_DOMAIN = b"keywell-dpop-nonce\x00"


@runtime_checkable
class NonceSource(Protocol):
    """Issues DPoP nonces and recognises current ones; ``now`` is in seconds since the epoch."""

    def issue(self, now: float) -> str:
        """A nonce to send in ``DPoP-Nonce`` (RFC 9449 section 8.1)."""

    def is_current(self, nonce: str, now: float) -> bool:
        """Whether ``nonce`` is one this source issued and still accepts."""


class HMACNonces:
    """Stateless nonces: ``base64url(window || HMAC-SHA-256(secret, window))``.

    Args:
        secret: at least 32 random octets, the same on every replica.
        window: seconds each nonce window lasts (a nonce is accepted during its
            window and the next).

    Raises:
        ValueError: a short secret or a non-positive window.
    """

    __slots__ = ("_secret", "_window")

    def __init__(self, secret: bytes, *, window: float = 300) -> None:
        if not isinstance(secret, bytes) or len(secret) < 32:
            raise ValueError("the nonce secret must be at least 32 bytes")
        if isinstance(window, bool) or not isinstance(window, int | float) or window <= 0:
            raise ValueError("window must be a positive number of seconds")
        self._secret = secret
        self._window = float(window)

    def _tag(self, counter: int) -> hmac.HMAC:
        mac = hmac.HMAC(self._secret, hashes.SHA256())
        mac.update(_DOMAIN + struct.pack(">q", counter))
        return mac

    def issue(self, now: float) -> str:
        """The nonce of the window ``now`` falls in."""
        counter = int(now // self._window)
        return b64url_encode(struct.pack(">q", counter) + self._tag(counter).finalize())

    def is_current(self, nonce: str, now: float) -> bool:
        """Whether ``nonce`` belongs to the current or the previous window and its tag verifies."""
        if type(nonce) is not str or len(nonce) > 80:
            return False
        try:
            raw = b64url_decode(nonce)
        except ValueError:
            return False
        if len(raw) != 8 + _TAG:
            return False
        (counter,) = struct.unpack(">q", raw[:8])
        if counter not in (int(now // self._window), int(now // self._window) - 1):
            return False
        try:
            self._tag(counter).verify(raw[8:])
        except InvalidSignature:
            return False
        return True

    def __repr__(self) -> str:
        """Never show the secret."""
        return f"<HMACNonces window={self._window:g}s>"
