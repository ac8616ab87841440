"""The planner: pure decisions on a set's keys at a given instant."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keywell.lifecycle import (
    KeyInfo,
    KeyState,
    RotationPolicy,
    emergency_warning,
    next_due,
    plan,
    plan_revoke,
    plan_rotate,
    rotation_due_at,
)

T0 = datetime(2030, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
POLICY = RotationPolicy(
    rotation_period=10 * DAY, prepublish=4 * DAY, jwks_max_age=timedelta(hours=1)
)


def key(kid: str, state: KeyState, published: datetime, **times: datetime) -> KeyInfo:
    return KeyInfo(
        kid=kid,
        state=state,
        alg="ES256",
        created_at=published,
        published_at=published,
        activated_at=times.get("activated_at"),
        retired_at=times.get("retired_at"),
        expires_at=times.get("expires_at"),
        revoked_at=None,
        revoke_reason=None,
    )


ACTIVE = key("a", KeyState.ACTIVE, T0, activated_at=T0)
PENDING = key("p", KeyState.PENDING, T0)


def transitions(steps: list) -> list[tuple[str | None, KeyState | None, KeyState]]:
    return [(s.kid, s.old_state, s.new_state) for s in steps]


def test_an_empty_set_gets_an_active_key_and_a_successor() -> None:
    assert transitions(plan(POLICY, [], T0)) == [
        (None, None, KeyState.ACTIVE),
        (None, None, KeyState.PENDING),
    ]


def test_nothing_is_due_before_the_rotation_time() -> None:
    keys = [ACTIVE, PENDING]
    assert rotation_due_at(POLICY, keys) == T0 + 10 * DAY
    assert plan(POLICY, keys, T0 + 10 * DAY - timedelta(microseconds=1)) == []
    assert next_due(POLICY, keys) == T0 + 10 * DAY


def test_rotation_at_the_due_time_retires_promotes_and_creates_once() -> None:
    steps = plan(POLICY, [ACTIVE, PENDING], T0 + 10 * DAY)
    assert transitions(steps) == [
        ("a", KeyState.ACTIVE, KeyState.RETIRED),
        ("p", KeyState.PENDING, KeyState.ACTIVE),
        (None, None, KeyState.PENDING),
    ]


def test_a_late_planner_rotates_once_not_once_per_missed_period() -> None:
    steps = plan(POLICY, [ACTIVE, PENDING], T0 + 100 * DAY)
    assert sum(s.new_state is KeyState.ACTIVE for s in steps) == 1


def test_a_young_pending_key_delays_the_rotation_until_prepublish() -> None:
    young = replace(PENDING, published_at=T0 + 8 * DAY, created_at=T0 + 8 * DAY)
    assert rotation_due_at(POLICY, [ACTIVE, young]) == T0 + 12 * DAY
    assert plan(POLICY, [ACTIVE, young], T0 + 11 * DAY) == []
    assert plan(POLICY, [ACTIVE, young], T0 + 12 * DAY) != []


def test_retired_keys_expire_at_their_publication_end() -> None:
    retired = key("r", KeyState.RETIRED, T0 - DAY, expires_at=T0 + timedelta(hours=2))
    keys = [ACTIVE, PENDING, retired]
    assert next_due(POLICY, keys) == T0 + timedelta(hours=2)
    assert plan(POLICY, keys, T0 + timedelta(hours=1)) == []
    assert transitions(plan(POLICY, keys, T0 + timedelta(hours=2))) == [
        ("r", KeyState.RETIRED, KeyState.EXPIRED)
    ]


def test_a_set_without_pending_key_gets_one_at_once() -> None:
    assert transitions(plan(POLICY, [ACTIVE], T0)) == [(None, None, KeyState.PENDING)]
    assert next_due(POLICY, [ACTIVE]) is not None


def test_planned_rotate_is_refused_until_prepublish_and_says_when() -> None:
    steps, when = plan_rotate(POLICY, [ACTIVE, PENDING], T0 + DAY, emergency=False)
    assert steps == []
    assert when == T0 + 4 * DAY
    steps, when = plan_rotate(POLICY, [ACTIVE, PENDING], T0 + 4 * DAY, emergency=False)
    assert when is None
    assert ("p", KeyState.PENDING, KeyState.ACTIVE) in transitions(steps)


def test_emergency_rotate_promotes_the_published_pending_key_and_adds_a_successor() -> None:
    steps, when = plan_rotate(POLICY, [ACTIVE, PENDING], T0 + DAY, emergency=True)
    assert when is None
    assert transitions(steps) == [
        ("a", KeyState.ACTIVE, KeyState.RETIRED),
        ("p", KeyState.PENDING, KeyState.ACTIVE),
        (None, None, KeyState.PENDING),
    ]


OLDER = key("p0", KeyState.PENDING, T0 - DAY)
RETIRED = key("r", KeyState.RETIRED, T0 - DAY, expires_at=T0 + DAY)

# The kind: every way the active signer is replaced at once. Each member must hand
# over to the oldest already-published pending key (invariant 5), never to a fresh
# key while a published one waits, and leave exactly one pending successor.
HANDOVERS = {
    "emergency, one pending": ([ACTIVE, PENDING], "p"),
    "emergency, two pending": ([ACTIVE, PENDING, OLDER], "p0"),
    "emergency, with a retired key": ([ACTIVE, PENDING, RETIRED], "p"),
    "emergency, no pending key": ([ACTIVE], None),
    "emergency, no active key": ([PENDING], "p"),
}


def _handover_cases() -> list[tuple[str, list[KeyInfo], str | None, str]]:
    cases = []
    for label, (keys, successor) in HANDOVERS.items():
        cases.append((label, keys, successor, "emergency"))
        if any(k.state is KeyState.ACTIVE for k in keys):
            cases.append((label.replace("emergency", "revoke active"), keys, successor, "revoke"))
    return cases


@pytest.mark.parametrize(
    ("keys", "successor", "how"),
    [c[1:] for c in _handover_cases()],
    ids=[c[0] for c in _handover_cases()],
)
def test_every_replacement_of_the_signer_hands_over_to_the_published_pending_key(
    keys: list[KeyInfo], successor: str | None, how: str
) -> None:
    if how == "emergency":
        steps, _ = plan_rotate(POLICY, keys, T0 + DAY, emergency=True)
        gone = KeyState.RETIRED
    else:
        steps = plan_revoke(keys, "a", "compromised")
        gone = KeyState.REVOKED
    promoted = [s for s in steps if s.new_state is KeyState.ACTIVE]
    assert len(promoted) == 1
    assert promoted[0].kid == successor  # None only when no published key was left
    if any(k.state is KeyState.ACTIVE for k in keys):
        assert ("a", KeyState.ACTIVE, gone) in transitions(steps)
    left_pending = {k.kid for k in keys if k.state is KeyState.PENDING} - {successor}
    created = [s for s in steps if s.kid is None and s.new_state is KeyState.PENDING]
    assert len(left_pending) + len(created) >= 1  # a successor stays published behind it
    assert not (left_pending and created)  # and no needless fresh key


def test_the_emergency_warning_names_the_key_and_how_long_it_was_published() -> None:
    promoted = replace(PENDING, state=KeyState.ACTIVE, activated_at=T0 + DAY)
    text = emergency_warning(POLICY, [promoted], T0 + DAY)
    assert text.startswith("emergency rotation: the pending key p signs at once")
    assert "published since 2030-01-01T00:00:00Z" in text
    young = replace(promoted, published_at=T0 + DAY - timedelta(minutes=20))
    text = emergency_warning(POLICY, [young], T0 + DAY)
    assert "published only 20m ago" in text
    assert "cached up to 1h earlier" in text
    assert "days," not in text


def test_revoking_the_active_key_promotes_the_pending_key_and_adds_a_successor() -> None:
    steps = plan_revoke([ACTIVE, PENDING], "a", "compromised")
    assert transitions(steps) == [
        ("a", KeyState.ACTIVE, KeyState.REVOKED),
        ("p", KeyState.PENDING, KeyState.ACTIVE),
        (None, None, KeyState.PENDING),
    ]
    assert steps[0].reason == "compromised"


def test_revoking_the_pending_key_creates_a_new_successor() -> None:
    assert transitions(plan_revoke([ACTIVE, PENDING], "p", "lost")) == [
        ("p", KeyState.PENDING, KeyState.REVOKED),
        (None, None, KeyState.PENDING),
    ]


def test_revoking_twice_is_a_no_op_and_an_unknown_kid_is_a_lookup_error() -> None:
    revoked = replace(PENDING, state=KeyState.REVOKED)
    assert plan_revoke([ACTIVE, revoked], "p", "again") == []
    with pytest.raises(LookupError):
        plan_revoke([ACTIVE, PENDING], "nope", "x")


_STATES = st.sampled_from([KeyState.ACTIVE, KeyState.PENDING, KeyState.RETIRED, KeyState.EXPIRED])


@given(
    states=st.lists(_STATES, min_size=1, max_size=6),
    ages=st.lists(st.integers(0, 40), min_size=6, max_size=6),
    how=st.sampled_from(["emergency", "revoke"]),
)
def test_a_replaced_signer_is_always_a_key_already_published(
    states: list[KeyState], ages: list[int], how: str
) -> None:
    """Invariant 5 over any set of keys: the new signer is the oldest pending key, if any."""
    keys = [
        key(f"k{i}", s, T0 - ages[i] * DAY, activated_at=T0 if s is KeyState.ACTIVE else None)
        for i, s in enumerate(states)
    ]
    actives = [k for k in keys if k.state is KeyState.ACTIVE]
    if how == "emergency":
        steps, _ = plan_rotate(POLICY, keys, T0, emergency=True)
        leaving = {k.kid for k in actives}
    else:
        if not actives:
            return
        steps = plan_revoke(keys, actives[0].kid, "test")
        leaving = {actives[0].kid}
    pending = sorted(
        (k for k in keys if k.state is KeyState.PENDING and k.kid not in leaving),
        key=lambda k: (k.published_at, k.kid),
    )
    new_active = [s for s in steps if s.new_state is KeyState.ACTIVE]
    assert len(new_active) == 1
    assert new_active[0].kid == (pending[0].kid if pending else None)
    after_pending = len(pending) - (1 if pending else 0)
    after_pending += sum(1 for s in steps if s.kid is None and s.new_state is KeyState.PENDING)
    assert after_pending >= 1
