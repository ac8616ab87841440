"""Hypothesis state machine over random policies and random operation sequences.

Operations: tick, planned rotate, emergency rotate, revoke, sign, at random
times. After every step:

1. exactly one active key;
2. every token signed is verifiable from the published set at any instant
   from its iat until its exp, unless its key was revoked;
3. no key signs before it has been published for ``prepublish``, with two
   stated exceptions: a key activated by an emergency rotation (published and
   activated at the same instant: verifiers learn it at their next refresh),
   and a pending key promoted because the active key was revoked (it was
   published before it signed, possibly for less than ``prepublish``).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from keywell import JWKSet, jwt
from keywell.issuer import Issuer
from keywell.jose.base64url import b64url_decode
from keywell.lifecycle import KeyState, RotationPolicy
from keywell.store import KEKRing

ISS = "https://issuer.test"
# Time moves in fractions of the rotation period, so windows such as "just
# before the due time" are reached often.
STEPS = st.one_of(st.floats(0, 0.3), st.floats(0, 2.5))
T0 = datetime(2030, 1, 1, tzinfo=UTC)
KEKS = KEKRing.generate()


@st.composite
def policies(draw: st.DrawFn) -> RotationPolicy:
    period = draw(st.integers(60, 2 * 86400))
    prepublish = draw(st.integers(1, period))
    return RotationPolicy(
        rotation_period=timedelta(seconds=period),
        prepublish=timedelta(seconds=prepublish),
        max_token_ttl=timedelta(seconds=draw(st.integers(1, 2 * period))),
        jwks_max_age=timedelta(seconds=draw(st.integers(1, prepublish))),
        clock_skew=timedelta(seconds=draw(st.integers(0, 120))),
    )


@dataclass
class Signed:
    token: str
    kid: str
    iat: int
    exp: int


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class IssuerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.TemporaryDirectory()
        self.clock = Clock()
        self.issuer = Issuer(
            f"sqlite:///{Path(self.dir.name) / 'k.db'}",
            keks=KEKS,
            clock=self.clock,
            auto_upgrade=True,
        )
        self.tokens: list[Signed] = []
        self.exceptions: set[str] = set()  # kids allowed to sign before prepublish
        self.policy = RotationPolicy()

    @initialize(policy=policies(), alg=st.sampled_from(["ES256", "EdDSA"]))
    def create(self, policy: RotationPolicy, alg: str) -> None:
        self.policy = policy
        self.issuer.create_keyset("s", issuer=ISS, alg=alg, policy=policy)

    def teardown(self) -> None:
        self.issuer.close()
        self.dir.cleanup()

    @rule(periods=STEPS)
    def advance_and_tick(self, periods: float) -> None:
        self.clock.now += self.policy.rotation_period * periods
        self.issuer.tick()

    @rule(periods=STEPS)
    def advance(self, periods: float) -> None:
        self.clock.now += self.policy.rotation_period * periods

    @rule()
    def rotate(self) -> None:
        result = self.issuer.rotate("s")
        assert result.performed or result.next_possible_at is not None
        if result.next_possible_at is not None:
            assert result.next_possible_at > self.clock.now

    @rule()
    def emergency(self) -> None:
        result = self.issuer.rotate("s", emergency=True)
        assert result.warning
        self.exceptions.add(result.active_kid)

    @rule(data=st.data())
    def revoke(self, data: st.DataObject) -> None:
        keys = self.issuer.keys("s")
        target = data.draw(st.sampled_from([k.kid for k in keys]))
        for tr in self.issuer.revoke("s", target, "test"):
            if tr.new_state is KeyState.ACTIVE:
                self.exceptions.add(tr.kid)

    @rule()
    def revoke_pending(self) -> None:
        pending = [k.kid for k in self.issuer.keys("s") if k.state is KeyState.PENDING]
        self.issuer.revoke("s", pending[0], "test: pending lost")

    @rule(fraction=st.floats(0.01, 1.0))
    def sign(self, fraction: float) -> None:
        ttl = max(1.0, self.policy.max_token_ttl.total_seconds() * fraction)
        token = self.issuer.sign("s", {"sub": "x"}, ttl=ttl)
        kid = json.loads(b64url_decode(token.split(".")[0]))["kid"]
        claims = json.loads(b64url_decode(token.split(".")[1]))
        active = [k for k in self.issuer.keys("s") if k.state is KeyState.ACTIVE]
        assert [k.kid for k in active] == [kid]  # signed with the one active key
        self.tokens.append(Signed(token, kid, claims["iat"], claims["exp"]))

    @invariant()
    def one_active_key(self) -> None:
        if self.issuer.list_keysets():
            states = [k.state for k in self.issuer.keys("s")]
            assert states.count(KeyState.ACTIVE) == 1

    @invariant()
    def live_tokens_verify_from_the_published_set(self) -> None:
        if not self.tokens:
            return
        keys = self.issuer.keys("s")
        revoked = {k.kid for k in keys if k.state is KeyState.REVOKED}
        published = JWKSet.from_json(self.issuer.jwks("s").body)
        now = self.clock.now.timestamp()
        for signed in self.tokens:
            if signed.kid in revoked:
                assert signed.kid not in published
                continue
            if signed.iat <= now < signed.exp:
                jwt.decode(signed.token, published, issuer=ISS, audience=None, now=now)

    @invariant()
    def keys_publish_before_they_sign(self) -> None:
        if not self.issuer.list_keysets():
            return
        prepublish = self.policy.effective_prepublish
        for key in self.issuer.keys("s"):
            if key.activated_at is None:
                continue
            assert key.published_at is not None
            assert key.published_at <= key.activated_at
            lead = key.activated_at - key.published_at
            first_key = key.activated_at == self.issuer.get_keyset("s").created_at
            if lead < prepublish and not first_key:
                assert key.kid in self.exceptions


IssuerMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=20,
    deadline=None,
    derandomize=True,  # the same examples on every CI run
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestIssuerMachine = IssuerMachine.TestCase
