"""Minting rules in the Issuer's signing path: no token a keywell verifier refuses is signed.

Issue 11 area 2, library side: ``Issuer.sign`` (and ``try_sign_cached``, the
server's fast path) refuse registered claims of the wrong JSON type (RFC 7519
section 4.1), an ``nbf`` at or after ``exp`` (4.1.5) and a token longer than
the default verifier's ``max_size``, each with its typed error. The server
maps the same errors to 422 problems (tests/server/test_request_rules.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keywell import Issuer, JWKSet, Verifier
from keywell.errors import ClaimError, KeywellError, TokenTooLargeError
from keywell.jose.jws import DEFAULT_MAX_TOKEN_SIZE
from keywell.store.kek import KEKRing

ISS = "https://issuer.test"
WRONG_TYPES = [None, True, "x", [], [1], {}, 1.5, -1, 2**60]
# claim -> the values of WRONG_TYPES of its JSON type (RFC 7519 section 4.1, RFC 7800)
ACCEPTS: dict[str, set[str]] = {
    "iss": {'"x"'},  # the right type; another issuer is a ValueError (below)
    "sub": {'"x"'},
    "aud": {'"x"'},
    "nbf": {"1.5", "-1"},
    "cnf": {"{}"},
}


@pytest.fixture
def issuer(tmp_path: Path) -> Iterator[Issuer]:
    issuer = Issuer(f"sqlite:///{tmp_path / 'k.db'}", keks=KEKRing.generate(), auto_upgrade=True)
    issuer.create_keyset("default", issuer=ISS)
    yield issuer
    issuer.close()


def _verifier(issuer: Issuer) -> Verifier:
    keys = JWKSet.from_json(issuer.jwks("default").body)
    return Verifier(keys, issuer=ISS, audience=None)


@pytest.mark.parametrize("claim", sorted(ACCEPTS))
def test_registered_claims_of_the_wrong_type_are_not_signed(issuer: Issuer, claim: str) -> None:
    issuer.sign("default", {"sub": "warm"})  # the cached path too: try_sign_cached
    for value in WRONG_TYPES:
        if json.dumps(value) in ACCEPTS[claim]:
            continue
        for sign in (issuer.sign, issuer.try_sign_cached):
            with pytest.raises(ClaimError) as caught:
                sign("default", {claim: value})
            assert caught.value.claim == claim
            assert caught.value.code == "KW_CLAIM_INVALID"


def test_nbf_at_or_after_exp_is_not_signed(issuer: Issuer) -> None:
    now = int(time.time())
    for nbf in (now + 61, now + 60 + 5, now + 10**9):
        with pytest.raises(ClaimError) as caught:
            issuer.sign("default", {"nbf": nbf}, ttl=60)
        assert (caught.value.claim, caught.value.reason) == ("nbf", "never-valid")
    token = issuer.sign("default", {"nbf": now - 5}, ttl=60)
    assert _verifier(issuer).verify(token)["nbf"] == now - 5


def test_a_token_larger_than_verifiers_accept_is_not_signed(issuer: Issuer) -> None:
    fits = issuer.sign("default", {"pad": "p" * 11_500})
    assert len(fits) <= DEFAULT_MAX_TOKEN_SIZE
    _verifier(issuer).verify(fits)
    for pad in (12_500, 40_000):
        with pytest.raises(TokenTooLargeError) as caught:
            issuer.sign("default", {"pad": "p" * pad})
        assert "ppppp" not in str(caught.value)
        assert caught.value.code == "KW_TOKEN_TOO_LARGE"


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
_claims = st.dictionaries(
    st.sampled_from(["iss", "sub", "aud", "nbf", "cnf", "scope", "x"]), _json, max_size=5
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(claims=_claims)
def test_whatever_is_signed_verifies(issuer: Issuer, claims: dict[str, Any]) -> None:
    """Any claims: a typed refusal, or a token the default verifier accepts."""
    if "iss" in claims and type(claims["iss"]) is str and claims["iss"] != ISS:
        with pytest.raises((ValueError, KeywellError)):  # another issuer, or a bad type first
            issuer.sign("default", claims, ttl=60)
        return
    try:
        token = issuer.sign("default", claims, ttl=60)
    except KeywellError:
        return  # typed refusal
    if "nbf" in claims and claims["nbf"] > time.time():
        return  # valid later: the verifier says not yet, by design
    _verifier(issuer).verify(token)
