"""The custody contract: the key lifecycle driving each custody the same way (issue 14).

Parametrised over ``db`` and the three real backends (SoftHSM2, ``bao server
-dev``, moto's KMS). Each case creates a set on a real SQLite file and checks
what the store holds (SQL), what is published, what the backend holds (asked
with its own client) and that tokens verify with keywell and with PyJWT.
"""

from __future__ import annotations

import json

import pytest

from keywell.custody import open_custody
from keywell.errors import InvalidInputError, KeySetNotFoundError
from keywell.issuer import Issuer
from keywell.jose.base64url import b64url_decode
from keywell.jose.jwk import JWK
from keywell.lifecycle import KeyState
from keywell.lifecycle.rules import SIGNING_ALGORITHMS, strong_etag
from tests.custody.contract import (
    DAY,
    ISS,
    POLICY,
    Clock,
    Custodian,
    live_refs,
    pending_destroys,
    rows,
    verify_both,
)


def _header(token: str) -> dict[str, str]:
    return dict(json.loads(b64url_decode(token.split(".")[0])))


def _backend_agrees(custody: Custodian, url: str, name: str) -> None:
    """The backend holds exactly the live keys the store lists; no destroy is pending."""
    if custody.handle is not None:
        assert custody.held(name) == live_refs(url, name)
    assert pending_destroys(url, name) == []


def test_create_stores_refs_and_public_keys_and_publishes_them(
    custody: Custodian, issuer: Issuer, url: str
) -> None:
    info = issuer.create_keyset("api", issuer=ISS, policy=POLICY, custody=custody.uri)
    assert info.custody == custody.uri == issuer.get_keyset("api").custody
    stored = rows(url, "api")
    assert [r.state for r in stored] == ["active", "pending"]
    for r in stored:
        if custody.handle is None:
            assert r.private_ct is not None
            assert r.kek_id is not None
            assert r.custody is None
        else:  # no private material in the store (invariant 8)
            assert r.private_ct is None
            assert r.kek_id is None
            assert r.custody == custody.uri
            assert r.custody_ref
    published = issuer.jwks("api")
    assert published.etag == strong_etag(published.body)
    entries = json.loads(published.body)["keys"]
    assert [e["kid"] for e in entries] == [r.kid for r in stored]
    for entry, r in zip(entries, stored, strict=True):
        jwk = JWK.from_dict(entry)
        assert not jwk.is_private
        assert entry == json.loads(r.public_jwk)
        assert entry["kid"] == jwk.thumbprint()
        assert entry["alg"] == "ES256"
        assert entry["use"] == "sig"
    assert [k.custody for k in issuer.keys("api")] == [custody.uri] * 2
    _backend_agrees(custody, url, "api")


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_a_token_signed_in_custody_verifies_with_keywell_and_pyjwt(
    custody: Custodian, issuer: Issuer, clock: Clock, alg: str
) -> None:
    issuer.create_keyset("api", issuer=ISS, alg=alg, policy=POLICY, custody=custody.uri)
    active = next(k for k in issuer.keys("api") if k.state is KeyState.ACTIVE)
    for n in range(2):  # a fresh signer, then the cached one
        token = issuer.sign("api", {"sub": f"user-{n}"})
        header = _header(token)
        assert header == {"alg": alg, "typ": "JWT", "kid": active.kid}
        assert verify_both(issuer, "api", token, clock)["sub"] == f"user-{n}"


def test_rotation_makes_the_next_key_in_the_backend(
    custody: Custodian, issuer: Issuer, url: str, clock: Clock
) -> None:
    issuer.create_keyset("api", issuer=ISS, policy=POLICY, custody=custody.uri)
    pending = next(k for k in issuer.keys("api") if k.state is KeyState.PENDING)
    clock.advance(DAY)
    assert issuer.tick()  # planned: the pending key signs, a new pending key is made
    states = [k.state.value for k in issuer.keys("api")]
    assert states == ["retired", "active", "pending"]
    assert issuer.keys("api")[1].kid == pending.kid
    result = issuer.rotate("api", emergency=True)
    assert result.performed
    token = issuer.sign("api", {"sub": "after"})
    assert verify_both(issuer, "api", token, clock)["sub"] == "after"
    assert len(live_refs(url, "api")) == (4 if custody.handle else 0)
    _backend_agrees(custody, url, "api")


def test_revoke_destroys_the_backend_key_after_commit(
    custody: Custodian, issuer: Issuer, url: str, clock: Clock
) -> None:
    issuer.create_keyset("api", issuer=ISS, policy=POLICY, custody=custody.uri)
    active, pending = issuer.keys("api")
    ref = next(r.custody_ref for r in rows(url, "api") if r.kid == active.kid)
    issuer.revoke("api", active.kid, "leaked")  # the pending key takes over
    assert active.kid not in issuer.jwks("api").body.decode()
    revoked = next(r for r in rows(url, "api") if r.kid == active.kid)
    assert revoked.state == "revoked"
    assert revoked.custody_ref is None
    assert revoked.private_ct is None
    if custody.handle is not None:
        assert ref not in custody.held("api")
        destroyed = [e for e in issuer.history("api") if e.action == "custody_destroy"]
        assert [e.kid for e in destroyed] == [active.kid]
    token = issuer.sign("api", {})
    assert _header(token)["kid"] == pending.kid
    verify_both(issuer, "api", token, clock)
    _backend_agrees(custody, url, "api")


def test_expiry_destroys_the_backend_key(
    custody: Custodian, issuer: Issuer, url: str, clock: Clock
) -> None:
    issuer.create_keyset("api", issuer=ISS, policy=POLICY, custody=custody.uri)
    first = issuer.keys("api")[0]
    clock.advance(DAY)
    issuer.tick()  # first retires
    clock.advance(POLICY.max_token_ttl + POLICY.clock_skew)
    done = issuer.tick()  # and expires: unpublished, destroyed in the backend
    assert [(t.kid, t.new_state) for t in done] == [(first.kid, KeyState.EXPIRED)]
    assert first.kid not in issuer.jwks("api").body.decode()
    assert [r.custody_ref for r in rows(url, "api") if r.kid == first.kid] == [None]
    _backend_agrees(custody, url, "api")


def test_a_rolled_back_transition_leaves_no_backend_key(
    custody: Custodian, issuer: Issuer, url: str
) -> None:
    issuer.create_keyset("api", issuer=ISS, policy=POLICY, custody=custody.uri)
    before = rows(url, "api")
    with pytest.raises(InvalidInputError):  # the audit refuses the actor after the new key
        issuer.rotate("api", emergency=True, actor="bad\nactor")
    assert rows(url, "api") == before
    _backend_agrees(custody, url, "api")


def test_every_algorithm_the_custody_cannot_hold_is_refused_at_create(
    backend: Custodian, issuer: Issuer
) -> None:
    opened = open_custody(backend.uri)
    assert opened is not None
    refused = sorted(SIGNING_ALGORITHMS - opened.algorithms)
    assert "HS256" in refused  # an HMAC key has no public half to publish
    for alg in refused:
        with pytest.raises(InvalidInputError) as caught:
            issuer.create_keyset("api", issuer=ISS, alg=alg, policy=POLICY, custody=backend.uri)
        assert caught.value.field == "alg"
        assert backend.scheme in caught.value.message
        with pytest.raises(KeySetNotFoundError):
            issuer.get_keyset("api")
    assert backend.held("api") == set()
