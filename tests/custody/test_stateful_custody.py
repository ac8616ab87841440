"""The issuer's state machine (tests/issuer/test_stateful.py) run on each real backend.

The same random policies and operation sequences (tick, planned and emergency
rotation, revocation, signing at random times) with the set's keys in a
backend, and one more check at the end of every example: the backend holds
exactly the live keys the store lists, and no destruction is left pending.
Fewer examples than the db run: every step makes real backend calls.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, run_state_machine_as_test

from keywell.custody import close_all
from keywell.lifecycle import RotationPolicy
from tests.custody.contract import Custodian, live_refs, pending_destroys
from tests.issuer.test_stateful import ISS, IssuerMachine, policies

SETTINGS = settings(
    max_examples=6,
    stateful_step_count=15,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_the_issuer_state_machine_on_a_backend(backend: Custodian) -> None:
    handle = backend.backend()

    class CustodyMachine(IssuerMachine):
        def __init__(self) -> None:
            super().__init__()
            self.uri = handle.fresh_uri()  # each example starts from an empty backend
            self.url = f"sqlite:///{self.dir.name}/k.db"

        @initialize(policy=policies(), alg=st.just("ES256"))  # RSA: in test_contract
        def create(self, policy: RotationPolicy, alg: str) -> None:
            self.policy = policy
            self.issuer.create_keyset("s", issuer=ISS, alg=alg, policy=policy, custody=self.uri)

        def teardown(self) -> None:
            try:  # asked once per example: listing a backend's keys is its slowest call
                if self.issuer.list_keysets():
                    assert handle.held(self.uri, "s") == live_refs(self.url, "s")
                    assert pending_destroys(self.url, "s") == []
            finally:
                super().teardown()

    try:
        run_state_machine_as_test(CustodyMachine, settings=SETTINGS)
    finally:
        close_all()
