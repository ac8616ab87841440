"""Readiness asks each custody backend at most once per ``ttl`` (issuer/custody.py).

A real backend and a monotonic clock the test moves: within the TTL the last
answer (success or CustodyError) is reused, so load-balancer probes do not
hammer the backend; past it the backend is asked again.
"""

from __future__ import annotations

import pytest

from keywell.custody import open_custody
from keywell.errors import CustodyError
from keywell.issuer.custody import CustodyHealth
from tests.custody.contract import Custodian


def test_readiness_reuses_each_answer_for_its_ttl(backend: Custodian) -> None:
    opened = open_custody(backend.uri)
    assert opened is not None
    asked: list[None] = []
    real_check = opened.check

    def counting_check() -> None:  # a spy: the real check runs
        asked.append(None)
        real_check()

    opened.check = counting_check  # type: ignore[method-assign]
    now = [100.0]
    health = CustodyHealth(5.0, monotonic=lambda: now[0])
    health.check(backend.uri)
    health.check(backend.uri)
    assert len(asked) == 1
    with backend.backend().down():
        health.check(backend.uri)  # the success is still fresh
        now[0] += 5.0
        for _ in range(3):
            with pytest.raises(CustodyError):
                health.check(backend.uri)  # asked once, then the failure is reused
        assert len(asked) == 2
    with pytest.raises(CustodyError):
        health.check(backend.uri)  # recovered, but the failure is fresh for 5 s
    now[0] += 5.0
    health.check(backend.uri)
    assert len(asked) == 3
