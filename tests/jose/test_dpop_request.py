"""Verifier.verify_request: scheme, binding (cnf.jkt), replay, RFC 9068; and mutated proofs."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keywell import JWK, jwt
from keywell.errors import (
    ClaimError,
    DPoPBindingError,
    DPoPProofError,
    DPoPReplayError,
    KeywellError,
    MalformedTokenError,
    MissingClaimError,
)
from keywell.jose import DPoPPolicy, MemoryReplayStore, Verifier, normalize_htu

from .dpop_helpers import (
    CLIENT,
    ISSUER,
    NOW,
    OTHER,
    TOKEN,
    URI,
    access_token,
    forge,
    good_proof,
    proof_parts,
    verifier,
)


def test_a_bound_token_with_its_proof_is_accepted_once() -> None:
    v = verifier()
    proof = good_proof()
    claims = v.verify_request("GET", URI, f"DPoP {TOKEN}", proof)
    assert claims["cnf"] == {"jkt": CLIENT.thumbprint()}
    with pytest.raises(DPoPReplayError) as info:
        v.verify_request("GET", URI, f"DPoP {TOKEN}", proof)
    assert info.value.member == "jti"


def test_the_scheme_is_case_insensitive_and_the_uri_normalised() -> None:
    v = verifier()
    v.verify_request("GET", "HTTPS://API.example:443/orders?page=2", f"dpop {TOKEN}", good_proof())


@pytest.mark.parametrize(
    ("authorization", "dpop", "token_jkt", "error"),
    [
        ("DPoP {t}", "proof", None, DPoPBindingError),  # unbound token sent with DPoP
        ("DPoP {t}", "proof", OTHER.thumbprint(), DPoPBindingError),  # bound to another key
        ("DPoP {t}", "proof", 7, DPoPBindingError),  # cnf.jkt not a string
        ("Bearer {t}", None, CLIENT.thumbprint(), DPoPBindingError),  # RFC 9449 7.2
        ("DPoP {t}", None, CLIENT.thumbprint(), DPoPProofError),  # no DPoP header
        ("DPoP {t}", "", CLIENT.thumbprint(), DPoPProofError),
        ("DPoP {t}", "a,b", CLIENT.thumbprint(), DPoPProofError),  # two headers joined
        (None, None, CLIENT.thumbprint(), MalformedTokenError),
        ("", None, CLIENT.thumbprint(), MalformedTokenError),
        ("Basic {t}", None, CLIENT.thumbprint(), MalformedTokenError),
        ("DPoP", "proof", CLIENT.thumbprint(), MalformedTokenError),
        ("DPoP {t} extra", "proof", CLIENT.thumbprint(), MalformedTokenError),
        ("DPoP {t}é", "proof", CLIENT.thumbprint(), MalformedTokenError),  # not ASCII
        ("Bearer é{t}", None, CLIENT.thumbprint(), MalformedTokenError),
    ],
)
def test_requests_that_break_the_binding_are_typed_refusals(
    authorization: str | None, dpop: str | None, token_jkt: Any, error: type[KeywellError]
) -> None:
    token = jwt.encode(
        {"iss": "https://as.example", "aud": "api", "exp": NOW + 60}
        | ({} if token_jkt is None else {"cnf": {"jkt": token_jkt}}),
        ISSUER,
    )
    header = authorization.format(t=token) if authorization is not None else None
    proof = good_proof(token=token) if dpop == "proof" else dpop
    with pytest.raises(error) as info:
        verifier().verify_request("GET", URI, header, proof)
    assert type(info.value) is error


def test_an_unbound_bearer_token_passes_unless_the_policy_wants_dpop_only() -> None:
    token = access_token(jkt=None)
    assert verifier().verify_request("GET", URI, f"Bearer {token}", None)["aud"] == "api"
    with pytest.raises(DPoPBindingError):
        verifier(DPoPPolicy(allow_bearer=False)).verify_request("GET", URI, f"Bearer {token}", None)


def test_a_refused_access_token_is_refused_after_a_valid_proof_and_not_recorded() -> None:
    store = MemoryReplayStore()
    v = verifier(DPoPPolicy(replay=store))
    expired = access_token(exp=NOW - 10)
    with pytest.raises(ClaimError):
        v.verify_request("GET", URI, f"DPoP {expired}", good_proof(token=expired))
    assert len(store) == 0


def test_verify_request_without_a_policy_is_a_programming_error() -> None:
    plain = Verifier(ISSUER.public(), issuer=None, audience=None)
    with pytest.raises(TypeError, match="dpop"):
        plain.verify_request("GET", URI, f"DPoP {TOKEN}", good_proof())


def test_averify_request_checks_the_same_way() -> None:
    v = verifier()
    proof = good_proof()

    async def run() -> None:
        await v.averify_request("GET", URI, f"DPoP {TOKEN}", proof)
        with pytest.raises(DPoPReplayError):
            await v.averify_request("GET", URI, f"DPoP {TOKEN}", proof)

    asyncio.run(run())


def test_the_memory_store_is_bounded_and_fails_closed_when_full_of_live_proofs() -> None:
    store = MemoryReplayStore(max_entries=2)
    assert store.first_use("key-a", NOW + 10, NOW)
    assert store.first_use("key-b", NOW + 20, NOW)
    with pytest.raises(DPoPReplayError):
        store.first_use("key-c", NOW + 10, NOW)
    assert store.first_use("key-c", NOW + 30, NOW + 15)  # "a" expired and made room
    assert not store.first_use("key-b", NOW + 40, NOW + 15)
    assert store.first_use("key-a", NOW + 40, NOW + 25)  # an expired key may be used again
    assert "key-" not in repr(store)


# -- RFC 9068 ---------------------------------------------------------------

AT_CLAIMS = {
    "iss": "https://as.example",
    "aud": "api",
    "exp": NOW + 60,
    "iat": NOW,
    "sub": "user-1",
    "client_id": "app-1",
    "jti": "t-1",
}


def _at(claims: dict[str, Any], typ: str | None = "at+jwt") -> str:
    return jwt.encode(claims, ISSUER, {"typ": typ} if typ else None)


def _profiled() -> Verifier:
    return Verifier(
        ISSUER.public(),
        issuer="https://as.example",
        audience="api",
        clock=lambda: NOW,
        profile="rfc9068",
    )


def test_rfc9068_accepts_a_complete_access_token() -> None:
    assert _profiled().verify(_at(AT_CLAIMS))["client_id"] == "app-1"
    assert _profiled().verify(jwt.encode(AT_CLAIMS, ISSUER, {"typ": "application/at+jwt"}))


@pytest.mark.parametrize("claim", ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"])
def test_rfc9068_requires_each_claim(claim: str) -> None:
    with pytest.raises(MissingClaimError) as info:
        _profiled().verify(_at({k: v for k, v in AT_CLAIMS.items() if k != claim}))
    assert info.value.claim == claim


@pytest.mark.parametrize("typ", [None, "JWT", "dpop+jwt"])
def test_rfc9068_requires_typ_at_jwt(typ: str | None) -> None:
    with pytest.raises(ClaimError) as info:
        _profiled().verify(_at(AT_CLAIMS, typ))
    assert info.value.claim == "typ"


@pytest.mark.parametrize(("claim", "value"), [("client_id", 5), ("sub", ["x"]), ("jti", None)])
def test_rfc9068_claims_have_their_types(claim: str, value: Any) -> None:
    with pytest.raises(ClaimError) as info:
        _profiled().verify(_at({**AT_CLAIMS, claim: value}))
    assert info.value.claim == claim


@pytest.mark.parametrize(
    "kwargs",
    [
        {"profile": "rfc0000", "issuer": "i", "audience": "a"},
        {"profile": "rfc9068", "issuer": None, "audience": "a"},
        {"profile": "rfc9068", "issuer": "i", "audience": None},
        {"profile": "rfc9068", "issuer": "i", "audience": "a", "typ": "JWT"},
    ],
)
def test_rfc9068_misconfiguration_fails_at_construction(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"profile|issuer|typ"):
        Verifier(ISSUER.public(), **kwargs)


# -- one member changed: only typed refusals --------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
HEADER_MEMBERS = ["typ", "alg", "jwk", "crit", "kid", "jku", "x5c", "b64"]
CLAIM_MEMBERS = ["jti", "htm", "htu", "iat", "ath", "nonce", "exp"]
HEADER_CHECKED = {"typ", "alg", "jwk", "crit", "b64"}
CLAIMS_CHECKED = {"htm", "htu", "iat", "ath"}  # jti: any other 1..256 characters will do


def _equivalent(member: str, value: Any) -> bool:
    """Changes a correct checker still accepts: an iat inside the window, b64 true, typ's case."""
    if member == "iat":
        return type(value) in (int, float) and NOW - 65 <= value <= NOW + 5
    if member == "typ":
        return isinstance(value, str) and value.lower().removeprefix("application/") == "dpop+jwt"
    return member == "b64" and value is True


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    where=st.sampled_from(["header", "claims"]),
    member=st.sampled_from(HEADER_MEMBERS + CLAIM_MEMBERS),
    value=JSON_VALUES | st.just("__drop__"),
)
def test_a_proof_with_one_member_changed_is_accepted_or_refused_typed(
    where: str, member: str, value: Any
) -> None:
    header, claims = proof_parts()
    target = header if where == "header" else claims
    original = target.get(member, "__absent__")
    if value == "__drop__":
        target.pop(member, None)
    else:
        target[member] = value
    proof = forge(header, claims, CLIENT, "ES256")
    try:
        verifier().verify_request("GET", URI, f"DPoP {TOKEN}", proof)
    except (DPoPProofError, ClaimError, MalformedTokenError):
        return  # any other KeywellError (or exception) fails the test
    # accepted: only if nothing checked changed
    changed = target.get(member, "__absent__") != original
    checked = HEADER_CHECKED if where == "header" else CLAIMS_CHECKED
    assert not changed or member not in checked or _equivalent(member, value)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_a_proof_with_one_character_changed_is_refused_typed(data: st.DataObject) -> None:
    proof = good_proof()
    i = data.draw(st.integers(0, len(proof) - 1))
    c = data.draw(st.sampled_from("AZaz09-_.=+/ \x00é"))
    mutated = proof[:i] + c + proof[i + 1 :]
    if mutated == proof:
        return
    try:
        verifier().verify_request("GET", URI, f"DPoP {TOKEN}", mutated)
    except DPoPProofError:
        return
    # base64url's last character can carry unused bits: the same octets decode
    assert mutated.split(".")[:2] == proof.split(".")[:2]


def test_json_helpers_in_the_fixtures_are_plain_json() -> None:
    header, _ = proof_parts()
    assert json.loads(json.dumps(header))["typ"] == "dpop+jwt"
    assert JWK.from_dict(header["jwk"]).thumbprint() == CLIENT.thumbprint()


@settings(max_examples=300, deadline=None)
@given(
    method=st.text(max_size=8),
    uri=st.text(max_size=40) | st.just(URI),
    authorization=st.none() | st.text(max_size=40) | st.just(f"DPoP {TOKEN}"),
    dpop=st.none() | st.text(max_size=40) | st.builds(lambda: good_proof()),
)
def test_any_request_text_gets_claims_or_a_typed_refusal(
    method: str, uri: str, authorization: str | None, dpop: str | None
) -> None:
    try:
        claims = verifier().verify_request(method, uri, authorization, dpop)
    except KeywellError:
        return  # typed: anything else fails the test
    assert claims["cnf"]["jkt"] == CLIENT.thumbprint()
    assert (method, normalize_htu(uri)) == ("GET", URI)
