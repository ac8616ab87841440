"""keywell.issuer.Issuer on a real SQLite file, with a clock the tests move by hand."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from keywell import JWKSet, jwt
from keywell.errors import (
    ClaimError,
    KEKError,
    KeyNotFoundError,
    KeySetError,
    KeySetExistsError,
    KeySetNotFoundError,
    PolicyError,
)
from keywell.issuer import Issuer
from keywell.jose.base64url import b64url_decode, b64url_encode
from keywell.lifecycle import KeyState, RotationPolicy
from keywell.store import DevelopmentKEKWarning, KEKRing

T0 = datetime(2030, 1, 1, tzinfo=UTC)
ISS = "https://issuer.test"
DAY = timedelta(days=1)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'keywell.db'}"


@pytest.fixture
def issuer(db: str, clock: Clock) -> Iterator[Issuer]:
    iss = Issuer(db, keks=KEKRing.generate(), clock=clock, auto_upgrade=True)
    yield iss
    iss.close()


def header(token: str) -> dict[str, object]:
    return json.loads(b64url_decode(token.split(".")[0]))


def decode(issuer: Issuer, name: str, token: str, clock: Clock) -> dict[str, object]:
    keys = JWKSet.from_json(issuer.jwks(name).body)
    return dict(jwt.decode(token, keys, issuer=ISS, audience=None, now=clock.now.timestamp()))


def states(issuer: Issuer, name: str) -> list[KeyState]:
    return [k.state for k in issuer.keys(name)]


def active_kid(issuer: Issuer, name: str) -> str:
    return next(k.kid for k in issuer.keys(name) if k.state is KeyState.ACTIVE)


# -- key sets -------------------------------------------------------------------


def test_creating_a_set_makes_an_active_key_and_a_published_successor(issuer: Issuer) -> None:
    info = issuer.create_keyset("main", issuer=ISS, alg="ES256")
    assert (info.name, info.issuer, info.alg, info.policy) == (
        "main",
        ISS,
        "ES256",
        RotationPolicy(),
    )
    assert info.created_at == T0
    assert states(issuer, "main") == [KeyState.ACTIVE, KeyState.PENDING]
    published = json.loads(issuer.jwks("main").body)["keys"]
    assert [k["kid"] for k in published] == [k.kid for k in issuer.keys("main")]
    assert all("d" not in k for k in published)
    assert issuer.get_keyset("main") == info
    assert issuer.list_keysets() == [info]
    assert issuer.versions() == {"main": info.version}


def test_names_algorithms_and_duplicates_are_checked(issuer: Issuer) -> None:
    issuer.create_keyset("main", issuer=ISS)
    with pytest.raises(KeySetExistsError):
        issuer.create_keyset("main", issuer=ISS)
    with pytest.raises(ValueError, match="name"):
        issuer.create_keyset("bad name/", issuer=ISS)
    with pytest.raises(ValueError, match="alg"):
        issuer.create_keyset("x", issuer=ISS, alg="none")
    with pytest.raises(ValueError, match="issuer"):
        issuer.create_keyset("x", issuer="")
    with pytest.raises(KeySetNotFoundError):
        issuer.get_keyset("nope")
    with pytest.raises(KeySetNotFoundError):
        issuer.sign("nope", {})


# -- signing --------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "PS256", "ES384"])
def test_sign_sets_the_registered_claims_and_the_kid(
    issuer: Issuer, clock: Clock, alg: str
) -> None:
    issuer.create_keyset("main", issuer=ISS, alg=alg)
    token = issuer.sign("main", {"sub": "alice", "aud": "api"}, ttl=timedelta(minutes=5))
    first = issuer.sign("main", {"sub": "alice"})
    assert header(token) == {"alg": alg, "typ": "JWT", "kid": active_kid(issuer, "main")}
    claims = jwt.decode(
        token,
        JWKSet.from_json(issuer.jwks("main").body),
        issuer=ISS,
        audience="api",
        now=T0.timestamp(),
    )
    assert claims["sub"] == "alice"
    assert claims["iat"] == int(T0.timestamp())
    assert claims["exp"] == int(T0.timestamp()) + 300
    assert claims["jti"] != decode(issuer, "main", first, clock)["jti"]
    assert decode(issuer, "main", first, clock)["exp"] == int(T0.timestamp()) + 3600


def test_sign_refuses_a_ttl_beyond_the_policy_and_reserved_claims(issuer: Issuer) -> None:
    issuer.create_keyset("main", issuer=ISS)
    with pytest.raises(PolicyError) as info:
        issuer.sign("main", {}, ttl=timedelta(hours=2))
    assert info.value.setting == "max_token_ttl"
    for bad_ttl in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises((ValueError, PolicyError)):
            issuer.sign("main", {}, ttl=bad_ttl)
    for claim in ("exp", "iat", "jti"):
        with pytest.raises(ValueError, match="set by the issuer"):
            issuer.sign("main", {claim: 1})
    with pytest.raises(ValueError, match="issuer"):
        issuer.sign("main", {"iss": "https://evil.test"})
    assert issuer.sign("main", {"iss": ISS})
    with pytest.raises(TypeError):
        issuer.sign("main", [("sub", "x")])  # type: ignore[arg-type]


def test_sign_performs_a_due_rotation_before_signing(issuer: Issuer, clock: Clock) -> None:
    issuer.create_keyset("main", issuer=ISS)
    old = active_kid(issuer, "main")
    issuer.sign("main", {})
    clock.advance(30 * DAY)
    token = issuer.sign("main", {})
    assert header(token)["kid"] != old
    assert header(token)["kid"] == active_kid(issuer, "main")
    assert states(issuer, "main") == [KeyState.RETIRED, KeyState.ACTIVE, KeyState.PENDING]


def test_a_revoke_in_this_process_stops_the_key_at_once(issuer: Issuer, clock: Clock) -> None:
    issuer.create_keyset("main", issuer=ISS)
    old = active_kid(issuer, "main")
    issuer.sign("main", {})  # cached now
    issuer.revoke("main", old, "leaked")
    assert header(issuer.sign("main", {}))["kid"] != old


def test_a_revoke_by_another_replica_is_seen_after_the_cache_ttl(db: str, clock: Clock) -> None:
    keks = KEKRing.generate()
    a = Issuer(db, keks=keks, clock=clock, auto_upgrade=True, sign_cache_ttl=0)
    b = Issuer(db, keks=keks, clock=clock)
    a.create_keyset("main", issuer=ISS)
    old = active_kid(a, "main")
    a.sign("main", {})
    b.revoke("main", old, "leaked", actor="ops")
    assert header(a.sign("main", {}))["kid"] != old
    a.close()
    b.close()


# -- publishing -----------------------------------------------------------------


def test_jwks_is_canonical_with_a_strong_etag_shared_by_replicas(db: str, clock: Clock) -> None:
    keks = KEKRing.generate()
    a = Issuer(db, keks=keks, clock=clock, auto_upgrade=True)
    b = Issuer(db, keks=keks, clock=clock)
    a.create_keyset("main", issuer=ISS, alg="EdDSA")
    pa, pb = a.jwks("main"), b.jwks("main")
    assert pa == pb
    assert (
        pa.body == json.dumps(json.loads(pa.body), sort_keys=True, separators=(",", ":")).encode()
    )
    assert pa.etag == '"' + b64url_encode(hashlib.sha256(pa.body).digest()) + '"'
    assert a.jwks("main") is pa  # cached per version
    assert pa.version == a.get_keyset("main").version
    a.close()
    b.close()


def test_cache_control_never_promises_more_than_the_policy(issuer: Issuer) -> None:
    issuer.create_keyset("main", issuer=ISS)
    published = issuer.jwks("main")
    assert published.max_age == 3600
    assert published.cache_control == (
        "public, max-age=3600, stale-while-revalidate=60, stale-if-error=2592000"
    )
    tight = RotationPolicy(rotation_period=timedelta(hours=2), prepublish=timedelta(minutes=61))
    issuer.update_policy("main", tight)
    published = issuer.jwks("main")
    assert published.max_age == 3600
    assert "stale-while-revalidate=60," in published.cache_control
    issuer.update_policy("main", RotationPolicy(rotation_period=timedelta(hours=1)))
    assert "stale-while-revalidate=0," in issuer.jwks("main").cache_control


def test_hmac_sets_sign_but_are_never_published(issuer: Issuer, clock: Clock) -> None:
    issuer.create_keyset("private", issuer=ISS, alg="HS256")
    token = issuer.sign("private", {"sub": "svc"})
    assert header(token)["alg"] == "HS256"
    with pytest.raises(KeySetError, match="never published"):
        issuer.jwks("private")


def test_a_revoked_key_leaves_the_jwks_at_once(issuer: Issuer, clock: Clock) -> None:
    issuer.create_keyset("main", issuer=ISS)
    kid = active_kid(issuer, "main")
    before = issuer.jwks("main")
    done = issuer.revoke("main", kid, "compromised", actor="alice")
    after = issuer.jwks("main")
    assert after.version > before.version
    assert after.etag != before.etag
    assert kid not in {k["kid"] for k in json.loads(after.body)["keys"]}
    assert [(t.old_state, t.new_state) for t in done] == [
        (KeyState.ACTIVE, KeyState.REVOKED),
        (KeyState.PENDING, KeyState.ACTIVE),
        (None, KeyState.PENDING),
    ]
    revoked = next(k for k in issuer.keys("main") if k.kid == kid)
    assert (revoked.revoke_reason, revoked.revoked_at) == ("compromised", T0)
    event = next(e for e in issuer.history("main") if e.new_state == "revoked")
    assert (event.actor, event.kid, event.old_state, event.reason) == (
        "alice",
        kid,
        "active",
        "compromised",
    )
    assert issuer.revoke("main", kid, "again") == []
    with pytest.raises(KeySetError, match="no key"):
        issuer.revoke("main", "unknown", "x")
    with pytest.raises(KeyNotFoundError) as unknown:
        issuer.revoke("main", "unknown", "x")
    assert unknown.value.code == "KW_KEY_NOT_FOUND"
    with pytest.raises(KeySetNotFoundError):
        issuer.revoke("nope", kid, "x")
    with pytest.raises(ValueError, match="reason"):
        issuer.revoke("main", kid, " ")


# -- rotation -------------------------------------------------------------------


def test_planned_rotate_waits_for_prepublish_and_says_when(issuer: Issuer, clock: Clock) -> None:
    policy = RotationPolicy(rotation_period=10 * DAY, prepublish=2 * DAY)
    issuer.create_keyset("main", issuer=ISS, policy=policy)
    result = issuer.rotate("main")
    assert not result.performed
    assert result.next_possible_at == T0 + 2 * DAY
    assert result.transitions == []
    assert result.warning is None
    clock.advance(2 * DAY)
    pending = next(k.kid for k in issuer.keys("main") if k.state is KeyState.PENDING)
    result = issuer.rotate("main", actor="ops")
    assert result.performed
    assert result.active_kid == pending
    assert issuer.history("main")[0].actor == "ops"


def test_emergency_rotate_promotes_the_published_pending_key_with_a_warning(
    issuer: Issuer, clock: Clock
) -> None:
    issuer.create_keyset("main", issuer=ISS)
    old_active, pending = (k.kid for k in issuer.keys("main"))
    result = issuer.rotate("main", emergency=True)
    assert result.performed
    assert result.active_kid == pending  # already published: invariant 5
    assert result.warning is not None
    assert "refresh" in result.warning
    assert header(issuer.sign("main", {}))["kid"] == result.active_kid
    by_kid = {k.kid: k.state for k in issuer.keys("main")}
    assert by_kid[old_active] is KeyState.RETIRED
    assert by_kid[pending] is KeyState.ACTIVE
    assert sum(state is KeyState.PENDING for state in by_kid.values()) == 1  # a new successor


def test_tick_rotates_and_expires_on_schedule_and_is_idempotent(
    issuer: Issuer, clock: Clock
) -> None:
    issuer.create_keyset("main", issuer=ISS)
    first = active_kid(issuer, "main")
    token = issuer.sign("main", {})
    assert issuer.tick() == []
    clock.advance(30 * DAY)
    done = issuer.tick()
    assert len(done) == 3
    assert issuer.tick() == []
    retired = next(k for k in issuer.keys("main") if k.kid == first)
    assert retired.state is KeyState.RETIRED
    assert retired.expires_at == clock.now + timedelta(hours=1, seconds=60)
    clock.advance(timedelta(hours=1, seconds=59))
    assert issuer.tick() == []
    assert first in {k["kid"] for k in json.loads(issuer.jwks("main").body)["keys"]}
    assert jwt.decode(
        token,
        JWKSet.from_json(issuer.jwks("main").body),
        issuer=ISS,
        audience=None,
        now=T0.timestamp() + 3599,
    )
    clock.advance(timedelta(seconds=1))
    assert [t.new_state for t in issuer.tick()] == [KeyState.EXPIRED]
    assert first not in {k["kid"] for k in json.loads(issuer.jwks("main").body)["keys"]}


def test_update_policy_applies_what_it_makes_due(issuer: Issuer, clock: Clock) -> None:
    issuer.create_keyset("main", issuer=ISS)
    clock.advance(2 * DAY)
    version = issuer.get_keyset("main").version
    shorter = RotationPolicy(rotation_period=DAY, jwks_max_age=timedelta(minutes=5))
    info = issuer.update_policy("main", shorter, actor="ops")
    assert info.policy == shorter
    assert info.version > version
    assert states(issuer, "main") == [KeyState.RETIRED, KeyState.ACTIVE, KeyState.PENDING]
    assert any(e.action == "update_policy" and e.actor == "ops" for e in issuer.history("main"))
    with pytest.raises(TypeError):
        issuer.update_policy("main", {"rotation_period": DAY})  # type: ignore[arg-type]


def test_lowering_max_token_ttl_keeps_the_retired_key_published_for_old_tokens(
    issuer: Issuer, clock: Clock
) -> None:
    issuer.create_keyset(
        "main", issuer=ISS, policy=RotationPolicy(max_token_ttl=timedelta(hours=5))
    )
    first = active_kid(issuer, "main")
    issuer.update_policy("main", RotationPolicy(max_token_ttl=timedelta(hours=1)))
    issuer.rotate("main", emergency=True)
    retired = next(k for k in issuer.keys("main") if k.kid == first)
    assert retired.expires_at == T0 + timedelta(hours=5, seconds=60)  # tokens may live 5 h


# -- audit, admin tokens, KEKs ----------------------------------------------------


def test_history_records_every_change(issuer: Issuer) -> None:
    issuer.create_keyset("main", issuer=ISS, actor="alice")
    issuer.create_keyset("other", issuer=ISS)
    events = issuer.history("main")
    assert {e.action for e in events} == {"create_keyset"}
    assert {e.actor for e in events} == {"alice"}
    assert {e.new_state for e in events if e.kid} == {"active", "pending"}
    assert len(issuer.history(limit=2)) == 2
    assert {e.keyset for e in issuer.history()} == {"main", "other"}


def test_admin_tokens_are_stored_hashed_and_can_be_revoked(issuer: Issuer, db: str) -> None:
    secret = issuer.create_admin_token(["keys:read", "keys:write"], name="ci")
    assert issuer.check_admin_token(secret) == frozenset({"keys:read", "keys:write"})
    assert issuer.check_admin_token(secret + "x") is None
    assert issuer.check_admin_token("") is None
    raw = Path(db.removeprefix("sqlite:///")).parent
    blob = b"".join(p.read_bytes() for p in raw.glob("keywell.db*"))
    assert secret.encode() not in blob
    assert issuer.revoke_admin_token("ci") == 1
    assert issuer.check_admin_token(secret) is None
    with pytest.raises(ValueError, match="scopes"):
        issuer.create_admin_token([])
    with pytest.raises(ValueError, match="scopes"):
        issuer.create_admin_token("keys:read")


def test_production_refuses_to_start_without_a_kek(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("KEYWELL_KEK", "KEYWELL_KEK_FILE", "KEYWELL_KEKS"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(KEKError, match="explicit KEK"):
        Issuer(db, production=True, auto_upgrade=True)
    with pytest.raises(KEKError, match="no KEK"):
        Issuer("postgresql+psycopg://nobody@127.0.0.1:1/none")


def test_development_mode_generates_a_0600_kek_beside_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("KEYWELL_KEK", "KEYWELL_KEK_FILE", "KEYWELL_KEKS"):
        monkeypatch.delenv(var, raising=False)
    url = f"sqlite:///{tmp_path / 'dev.db'}"
    with pytest.warns(DevelopmentKEKWarning):
        first = Issuer(url, auto_upgrade=True)
    first.create_keyset("main", issuer=ISS)
    first.close()
    kek_file = tmp_path / "dev.db.kek"
    assert stat.S_IMODE(os.stat(kek_file).st_mode) == 0o600
    with pytest.warns(DevelopmentKEKWarning):
        second = Issuer(url)
    second.check_ready()  # the same KEK: keys still open
    assert second.sign("main", {})
    second.close()


def test_environment_kek_is_used_when_none_is_passed(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KEYWELL_KEK_FILE", raising=False)
    monkeypatch.setenv("KEYWELL_KEK", b64url_encode(os.urandom(32)))
    monkeypatch.setenv("KEYWELL_KEK_ID", "env")
    iss = Issuer(db, auto_upgrade=True, production=True)
    iss.create_keyset("main", issuer=ISS)
    iss.check_ready()
    assert iss.sign("main", {})
    iss.close()
    # The keys were sealed under the environment's KEK: another KEK is refused at open.
    with pytest.raises(KEKError) as info:
        Issuer(db, keks=KEKRing.generate(), production=True)
    assert info.value.kek_id == "env"


def test_repr_and_errors_carry_no_secrets(issuer: Issuer) -> None:
    issuer.create_keyset("main", issuer=ISS)
    assert "keywell.db" in repr(issuer)
    with pytest.raises(ValueError, match="sign_cache_ttl"):
        Issuer("sqlite://", keks=KEKRing.generate(), sign_cache_ttl=-1)


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), -float("inf"), [1, float("inf")], {"a": {"b": float("nan")}}],
    ids=["nan", "inf", "-inf", "in-list", "nested"],
)
def test_claims_that_are_not_json_are_refused(issuer: Issuer, value: object) -> None:
    """NaN and infinities are not JSON (RFC 8259 section 6): a typed refusal naming the claim."""
    issuer.create_keyset("main", issuer=ISS)
    with pytest.raises(ClaimError) as caught:
        issuer.sign("main", {"sub": "a", "score": value})
    assert (caught.value.claim, caught.value.reason) == ("score", "type")


@pytest.mark.parametrize("var", ["KEYWELL_KEK", "KEYWELL_KEKS", "KEYWELL_KEK_FILE"])
def test_an_empty_kek_variable_never_falls_back_to_a_development_kek(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, var: str
) -> None:
    for name in ("KEYWELL_KEK", "KEYWELL_KEK_FILE", "KEYWELL_KEKS", "KEYWELL_KEK_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(var, "")
    with pytest.raises(KEKError, match=f"{var} is set but empty"):
        Issuer(f"sqlite:///{tmp_path / 'kw.db'}", auto_upgrade=True)
    assert not (tmp_path / "kw.db.kek").exists()
