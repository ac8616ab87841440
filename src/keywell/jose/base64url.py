"""Strict base64url without padding (RFC 7515 section 2, RFC 4648 section 5).

Decoding refuses anything a canonical encoder would not produce: ``=``
padding, characters outside the URL-safe alphabet (``+``, ``/``, whitespace,
non-ASCII), an impossible length, and non-zero unused trailing bits. The last
rule matters: without it several strings decode to the same bytes, so a token
could be altered without changing what is verified.
"""

from __future__ import annotations

import binascii

__all__ = ["b64url_decode", "b64url_encode", "int_from_b64", "int_to_b64"]

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}
# "-_" become "+/"; "+/=" become "!", which strict a2b_base64 refuses.
_URL_TO_STD = bytes.maketrans(b"-_+/=", b"+/!!!")
_STD_TO_URL = bytes.maketrans(b"+/", b"-_")
# For a length of 2 (mod 4) the last character carries 2 used bits, so its low 4
# must be zero; for 3 (mod 4) it carries 4 used bits, so its low 2 must be zero.
_CANONICAL_LAST = {
    2: frozenset(c for c, i in _INDEX.items() if i & 0x0F == 0),
    3: frozenset(c for c, i in _INDEX.items() if i & 0x03 == 0),
}
_PAD = {0: b"", 2: b"==", 3: b"="}


def b64url_encode(data: bytes) -> str:
    """Encode ``data`` as unpadded base64url text."""
    return binascii.b2a_base64(data, newline=False).translate(_STD_TO_URL).rstrip(b"=").decode()


def b64url_decode(data: str | bytes) -> bytes:
    """Decode unpadded base64url, refusing every non-canonical form.

    One ``translate`` maps the URL-safe alphabet onto the standard one and
    ``+``, ``/`` and ``=`` onto an invalid byte, so binascii's strict mode
    refuses them along with whitespace and anything else outside the alphabet.

    Raises:
        ValueError: the input is not canonical unpadded base64url.
    """
    if isinstance(data, str):
        try:
            raw = data.encode("ascii")
        except UnicodeEncodeError:
            raise ValueError("base64url text contains non-ASCII characters") from None
    else:
        raw = bytes(data)
    rem = len(raw) & 3
    if rem:
        if rem == 1:
            raise ValueError("base64url text has an impossible length")
        if raw[-1] not in _CANONICAL_LAST[rem]:
            raise ValueError("base64url text has non-zero trailing bits or a bad character")
    try:
        return binascii.a2b_base64(raw.translate(_URL_TO_STD) + _PAD[rem], strict_mode=True)
    except binascii.Error:
        raise ValueError("base64url text contains characters outside the alphabet") from None


def int_to_b64(value: int, length: int | None = None) -> str:
    """Encode a non-negative integer big-endian, in ``length`` octets or the fewest needed."""
    if length is None:
        length = max(1, (value.bit_length() + 7) // 8)
    return b64url_encode(value.to_bytes(length, "big"))


def int_from_b64(data: str) -> int:
    """Decode a base64url big-endian unsigned integer."""
    return int.from_bytes(b64url_decode(data), "big")
