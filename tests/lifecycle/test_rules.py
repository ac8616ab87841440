"""The key-set rules of ``keywell.lifecycle.rules``, and that every user takes them from there."""

from __future__ import annotations

import base64
import hashlib
from typing import get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keywell.lifecycle import rules
from keywell.lifecycle.rules import (
    SIGNING_ALGORITHMS,
    check_signing_alg,
    is_publishable,
    jwks_path,
    jwks_uri,
    key_size,
    strong_etag,
)


@pytest.mark.parametrize(
    ("alg", "publishable", "size"),
    [
        ("RS256", True, 3072),
        ("PS256", True, 3072),
        ("ES256", True, None),
        ("ES384", True, None),
        ("ES512", True, None),
        ("EdDSA", True, None),
        ("HS256", False, None),
    ],
)
def test_each_signing_algorithm(alg: str, publishable: bool, size: int | None) -> None:
    assert check_signing_alg(alg, 3072) == alg
    assert is_publishable(alg) is publishable
    assert key_size(alg, 3072) == size
    uri = jwks_uri("https://keys.example", "set-1", alg)
    assert uri == ("https://keys.example/keysets/set-1/jwks.json" if publishable else None)


@pytest.mark.parametrize(
    ("alg", "bits"),
    [("none", 2048), ("HS512", 2048), ("es256", 2048), ("RS256", 1024), (None, 2048)],
)
def test_other_algorithms_and_short_rsa_are_refused(alg: object, bits: int) -> None:
    with pytest.raises(ValueError, match=r"alg must be one of|rsa_bits"):
        check_signing_alg(alg, bits)


def test_the_admin_api_and_the_issuer_share_the_algorithm_list() -> None:
    from keywell.issuer import SIGNING_ALGORITHMS as issuer_algs
    from keywell.server.bodies import Alg

    assert set(get_args(Alg)) == SIGNING_ALGORITHMS == issuer_algs
    assert len(SIGNING_ALGORITHMS) == len(get_args(rules.SigningAlg)) == 7


def test_the_default_set_is_served_at_the_well_known_path() -> None:
    assert jwks_path("main", default=True) == "/.well-known/jwks.json"
    assert jwks_path("main") == "/keysets/main/jwks.json"
    assert jwks_uri("http://127.0.0.1:1", "hs", "HS256", default=True) is None


@given(st.binary(max_size=256))
def test_the_strong_etag_is_the_quoted_unpadded_base64url_sha256(body: bytes) -> None:
    digest = base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()
    assert strong_etag(body) == f'"{digest}"'
