"""A proof accepted once is never accepted again, up to the last instant its ``iat`` allows.

RFC 9449 section 11.1: a proof must be remembered for as long as it could be
accepted. The window's end and the store's expiry are one rule
(:meth:`~keywell.jose.DPoPPolicy.accepts_iat`, :meth:`~keywell.jose.DPoPPolicy.remember_until`):
at the very instant the window closes the proof is refused, and a store
shared by processes whose clocks differ by up to ``leeway`` still holds it
while any of them would accept its ``iat``. The SQL and Redis stores are
checked the same way in tests/store/test_dpop_replay_window.py.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keywell.errors import DPoPProofError
from keywell.jose import DPoPPolicy, MemoryReplayStore, ReplayStore, Verifier
from tests.jose.dpop_helpers import ISSUER, NOW, TOKEN, URI, good_proof

MAX_AGE, LEEWAY = 60.0, 5.0
WINDOW = MAX_AGE + LEEWAY
EPS = 1e-3


def _verifier(policy: DPoPPolicy, now: float) -> Verifier:
    return Verifier(
        ISSUER.public(), issuer="https://as.example", audience="api", clock=lambda: now, dpop=policy
    )


def first_then_again(
    iat: float, first_at: float, again_at: float, store: ReplayStore | None = None
) -> None:
    """Accept a proof at ``first_at``; present it again at ``again_at`` (another clock)."""
    replay = MemoryReplayStore() if store is None else store
    policy = DPoPPolicy(max_age=MAX_AGE, leeway=LEEWAY, replay=replay)
    proof = good_proof(iat=iat)
    _verifier(policy, first_at).verify_request("GET", URI, f"DPoP {TOKEN}", proof)
    with pytest.raises(DPoPProofError):  # a replay (DPoPReplayError) or an iat out of window
        _verifier(policy, again_at).verify_request("GET", URI, f"DPoP {TOKEN}", proof)


# The instants around the window's end, for proofs of every accepted age, the
# second process's clock up to ``leeway`` behind or ahead of the first's.
IATS = [NOW - WINDOW + 1, NOW - 1, NOW, NOW + LEEWAY]
SKEWS = [-LEEWAY, -1.0, 0.0, 1.0, LEEWAY]
END_OFFSETS = [-1.0, -EPS, 0.0, EPS, 1.0, LEEWAY, 2 * LEEWAY + 1]


@pytest.mark.parametrize("iat", IATS, ids=str)
@pytest.mark.parametrize("skew", SKEWS, ids=str)
@pytest.mark.parametrize("end_offset", END_OFFSETS, ids=str)
def test_a_replay_at_the_end_of_the_window_is_refused(
    iat: float, skew: float, end_offset: float
) -> None:
    first_then_again(iat, NOW, iat + WINDOW + end_offset + skew)


def test_at_the_instant_the_window_closes_a_fresh_proof_is_refused() -> None:
    policy = DPoPPolicy(max_age=MAX_AGE, leeway=LEEWAY)
    with pytest.raises(DPoPProofError) as info:
        _verifier(policy, NOW + WINDOW).verify_request(
            "GET", URI, f"DPoP {TOKEN}", good_proof(iat=NOW)
        )
    assert info.value.member == "iat"
    _verifier(policy, NOW + WINDOW - EPS).verify_request(
        "GET", URI, f"DPoP {TOKEN}", good_proof(iat=NOW)
    )


@given(
    iat_age=st.floats(-LEEWAY, WINDOW - EPS),
    later=st.floats(0, 3 * WINDOW),
    skew=st.floats(-LEEWAY, LEEWAY),
)
@settings(max_examples=150, deadline=None)
def test_no_second_use_is_ever_accepted(iat_age: float, later: float, skew: float) -> None:
    first_then_again(NOW - iat_age, NOW, NOW + later + skew)


@pytest.mark.parametrize(
    "iat", [-(10**400), 10**400, 2**1024, -(2**1024), 1e308, -1e308, 0, -1], ids=str
)
def test_an_iat_far_outside_any_window_is_a_typed_refusal(iat: float) -> None:
    policy = DPoPPolicy(max_age=MAX_AGE, leeway=LEEWAY)
    with pytest.raises(DPoPProofError) as info:
        _verifier(policy, NOW).verify_request("GET", URI, f"DPoP {TOKEN}", good_proof(iat=iat))
    assert info.value.member == "iat"
