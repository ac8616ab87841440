"""Ed25519 on both paths (libsodium and OpenSSL): the cases where they could disagree.

RFC 8032 section 5.1.7 leaves small-order points and non-canonical encodings
to the verifier; libsodium refuses them and OpenSSL accepts some. keywell
refuses all of them on both paths: a small-order or non-canonical public key
when its JWK is parsed, a small-order ``R`` at verification. A key of small
order would otherwise accept ``R = identity, S = 0`` over any message.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from keywell import JWK, errors
from keywell.jose import speedups
from keywell.jose.base64url import b64url_encode

pytestmark = pytest.mark.usefixtures("ed25519_backend")

P = 2**255 - 19
SMALL_ORDER = [
    bytes(32),
    (1).to_bytes(32, "little"),
    bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
    bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    (P - 1).to_bytes(32, "little"),
]
WITH_SIGN_BIT = [p[:31] + bytes((p[31] | 0x80,)) for p in SMALL_ORDER]
NON_CANONICAL = [(P + i).to_bytes(32, "little") for i in range(19)]  # y in [p, 2^255 - 1]

KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = JWK.from_key(KEY.public_key())


def okp(x: bytes) -> dict[str, str]:
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(x)}


@pytest.mark.parametrize(
    "x", SMALL_ORDER + WITH_SIGN_BIT + NON_CANONICAL, ids=lambda x: x.hex()[:8] + x.hex()[-2:]
)
def test_small_order_and_non_canonical_keys_are_refused(x: bytes) -> None:
    with pytest.raises(errors.InvalidKeyError, match="Ed25519 public key"):
        JWK.from_dict(okp(x))


@pytest.mark.parametrize("r", SMALL_ORDER + WITH_SIGN_BIT, ids=lambda r: r.hex()[:8])
@pytest.mark.parametrize("s", [0, 1, 2**252], ids=["s0", "s1", "s-big"])
def test_a_small_order_r_is_refused(r: bytes, s: int) -> None:
    verify = PUBLIC.verifier("EdDSA")
    with pytest.raises(errors.InvalidSignatureError):
        verify(b"message", r + s.to_bytes(32, "little"))


def test_a_valid_signature_verifies() -> None:
    PUBLIC.verifier("EdDSA")(b"message", KEY.sign(b"message"))
    PUBLIC.verifier("Ed25519")(b"message", KEY.sign(b"message"))


@settings(max_examples=300, deadline=None)
@given(
    message=st.binary(max_size=64),
    position=st.integers(0, 63),
    flip=st.integers(1, 255),
)
def test_both_paths_give_the_same_verdict(message: bytes, position: int, flip: int) -> None:
    """Differential: a valid signature with one byte changed, judged by both paths."""
    sig = bytearray(KEY.sign(message))
    sig[position] ^= flip
    verdicts = []
    for backend in ("libsodium", "openssl"):
        speedups.use_ed25519(backend)
        key = JWK.from_key(KEY.public_key())  # a fresh verifier per path
        try:
            key.verifier("EdDSA")(message, bytes(sig))
            verdicts.append(True)
        except errors.InvalidSignatureError:
            verdicts.append(False)
    assert verdicts == [False, False]


def test_backend_choice_is_checked() -> None:
    with pytest.raises(ValueError, match="must be one of"):
        speedups.use_ed25519("boringssl")
    speedups.use_ed25519("openssl")
    assert speedups.ed25519_backend() == "openssl"
    assert speedups.libsodium_sign_open() is None
