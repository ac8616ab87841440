from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keywell.jose.base64url import b64url_decode, b64url_encode


@given(st.binary(max_size=200))
def test_round_trip(data: bytes) -> None:
    text = b64url_encode(data)
    assert "=" not in text
    assert b64url_decode(text) == data


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("QQ==", "padding"),
        ("QQ=", "padding"),
        ("a+b/", "standard alphabet"),
        ("QQ Q", "whitespace"),
        ("Q", "impossible length"),
        ("QR", "non-zero trailing bits"),
        ("QUJ", "non-zero trailing bits"),
        ("Qé", "non-ASCII"),
        ("QQ\n", "newline"),
        ("Q!Q", "outside alphabet"),
    ],
)
def test_strict_rejects(text: str, why: str) -> None:
    with pytest.raises(ValueError, match="base64url"):
        b64url_decode(text)


def test_canonical_trailing_bits_accepted() -> None:
    assert b64url_decode("QQ") == b"A"
    assert b64url_decode("QUI") == b"AB"
    assert b64url_decode(b"") == b""
