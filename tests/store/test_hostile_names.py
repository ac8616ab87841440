"""Hostile key-set names and kids through every public Issuer method, SQLite and PostgreSQL.

Issue 11 area 3, library side: a name or kid that breaks its rule in
:mod:`keywell.lifecycle.names` names nothing. Each lookup answers the typed
"not found" error (``KeySetNotFoundError`` / ``KeyNotFoundError``) and never
hands the value to the driver (PostgreSQL refuses a NUL with ``DataError``);
creating a set with such a name is ``InvalidInputError``. The database is
unchanged afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keywell import Issuer
from keywell.errors import (
    AdminTokenNotFoundError,
    InvalidInputError,
    KeyNotFoundError,
    KeySetNotFoundError,
)
from keywell.lifecycle import RotationPolicy
from keywell.lifecycle.names import is_keyset_name, is_kid
from keywell.store.kek import KEKRing

ISSUER = "https://issuer.example"
HOSTILE_NAMES = [
    "\x00",
    "a\x00b",
    "%00",
    "",
    " ",
    ".",
    "..",
    "a/b",
    "a\nb",
    "a\n",
    "\u202eevil",
    "\ud800",
    "é",
    "x" * 101,
    "x" * 10_000,
    "-lead",
    "name'; DROP TABLE keysets; --",
    None,
    7,
    b"default",
    ["default"],
]
HOSTILE_KIDS = ["\x00", "k\x00", "", "\ud800", "\u202e", "a\tb", "x" * 257, "x" * 10_000, None, 5]

NameCall = Callable[[Issuer, Any], object]
NAME_METHODS: dict[str, NameCall] = {
    "get_keyset": lambda i, n: i.get_keyset(n),
    "keys": lambda i, n: i.keys(n),
    "jwks": lambda i, n: i.jwks(n),
    "history": lambda i, n: i.history(n),
    "rotate": lambda i, n: i.rotate(n),
    "rotate_emergency": lambda i, n: i.rotate(n, emergency=True),
    "revoke": lambda i, n: i.revoke(n, "kid", "compromised"),
    "update_policy": lambda i, n: i.update_policy(n, RotationPolicy()),
    "sign": lambda i, n: i.sign(n, {"sub": "u"}),
}


@pytest.fixture
def issuer(any_url: str) -> Iterator[Issuer]:
    issuer = Issuer(any_url, keks=KEKRing.generate(), auto_upgrade=True)
    issuer.create_keyset("default", issuer=ISSUER)
    yield issuer
    issuer.close()


def _snapshot(issuer: Issuer) -> tuple[object, ...]:
    return (issuer.versions(), len(issuer.history(limit=1000)))


@pytest.mark.parametrize("method", sorted(NAME_METHODS))
def test_hostile_names_name_no_set(issuer: Issuer, method: str) -> None:
    before = _snapshot(issuer)
    for name in HOSTILE_NAMES:
        if method == "history" and name is None:
            continue  # history(None) is every set's history, by contract
        with pytest.raises(KeySetNotFoundError) as caught:
            NAME_METHODS[method](issuer, name)
        assert caught.value.code == "KW_KEYSET_NOT_FOUND"
        if isinstance(name, str) and len(name) > 3:
            assert name not in str(caught.value)  # the refused value is not echoed
    assert issuer.try_sign_cached("\x00", {"sub": "u"}) is None
    assert _snapshot(issuer) == before


def test_hostile_names_cannot_create_a_set(issuer: Issuer) -> None:
    before = _snapshot(issuer)
    for name in HOSTILE_NAMES:
        with pytest.raises(InvalidInputError) as caught:
            issuer.create_keyset(name, issuer=ISSUER)  # type: ignore[arg-type]
        assert caught.value.code == "KW_INVALID_INPUT"
    assert _snapshot(issuer) == before


def test_hostile_kids_name_no_key(issuer: Issuer) -> None:
    before = _snapshot(issuer)
    for kid in HOSTILE_KIDS:
        with pytest.raises(KeyNotFoundError) as caught:
            issuer.revoke("default", kid, "compromised")  # type: ignore[arg-type]
        assert caught.value.code == "KW_KEY_NOT_FOUND"
        store = issuer._store  # the store's own lookup by kid, under the public API
        with store.read() as conn, pytest.raises(KeyNotFoundError):
            store.private_jwk(conn, "default", kid)  # type: ignore[arg-type]
    assert _snapshot(issuer) == before
    assert issuer.sign("default", {"sub": "u"}).count(".") == 2  # the set still works


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.text(max_size=120), kid=st.text(max_size=300))
def test_any_text_is_typed(issuer: Issuer, name: str, kid: str) -> None:
    """Whatever the text, a lookup answers a result or the typed not-found error."""
    if name == "default":
        return
    with pytest.raises(KeySetNotFoundError):
        issuer.keys(name)
    with pytest.raises(KeySetNotFoundError):
        issuer.revoke(name, kid, "r")
    if not is_kid(kid) or kid not in {k.kid for k in issuer.keys("default")}:
        with pytest.raises(KeyNotFoundError):
            issuer.revoke("default", kid, "r")
    assert is_keyset_name(name) or name not in issuer.versions()


HOSTILE_LABELS = ["\x00", "a\x00", "\ud800", "\u202e", "a\nb", "x" * 201, None, 3]
ActorCall = Callable[[Issuer, Any], object]
ACTOR_METHODS: dict[str, ActorCall] = {
    "create_keyset": lambda i, a: i.create_keyset("other", issuer=ISSUER, actor=a),
    "rotate": lambda i, a: i.rotate("default", emergency=True, actor=a),
    "revoke": lambda i, a: i.revoke("default", i.keys("default")[0].kid, "r", actor=a),
    "update_policy": lambda i, a: i.update_policy("default", RotationPolicy(), actor=a),
    "create_admin_token": lambda i, a: i.create_admin_token(["keys:read"], actor=a),
    "create_admin_token_name": lambda i, a: i.create_admin_token(["keys:read"], name=a),
    "revoke_admin_token": lambda i, a: i.revoke_admin_token("ops", actor=a),
    "rewrap": lambda i, a: i.rewrap(actor=a),
}


@pytest.mark.parametrize("method", sorted(ACTOR_METHODS))
def test_hostile_actors_and_token_names_are_invalid_input(issuer: Issuer, method: str) -> None:
    """An audit actor or admin-token name is a label (lifecycle.names): typed, nothing written."""
    before = (_snapshot(issuer), len(issuer.list_admin_tokens()))
    for label in HOSTILE_LABELS:
        with pytest.raises(InvalidInputError) as caught:
            ACTOR_METHODS[method](issuer, label)
        assert caught.value.code == "KW_INVALID_INPUT"
    assert (_snapshot(issuer), len(issuer.list_admin_tokens())) == before


def test_revoking_admin_tokens_by_a_hostile_name_revokes_none(issuer: Issuer) -> None:
    issuer.create_admin_token(["keys:read"], name="ops")
    for label in HOSTILE_LABELS[:-2]:
        assert issuer.revoke_admin_token(label) == 0
    assert [t.usable for t in issuer.list_admin_tokens()] == [True]


def test_hostile_admin_token_secrets_and_ids_name_nothing(issuer: Issuer) -> None:
    """A secret no token can have is unknown; an id no row can have is AdminTokenNotFoundError."""
    issuer.create_admin_token(["keys:read"], name="ops")
    for secret in ["kwa_\x00", "kwa_\ud800", "\x00", "", None, 5]:
        assert issuer.check_admin_token(secret) is None  # type: ignore[arg-type]
        assert issuer.admin_token_info(secret) is None  # type: ignore[arg-type]
    for token_id in [0, -1, 2**31, 2**70, "1", 1.0, True]:
        with pytest.raises(AdminTokenNotFoundError) as caught:
            issuer.revoke_admin_token(token_id=token_id)  # type: ignore[arg-type]
        assert caught.value.code == "KW_ADMIN_TOKEN_NOT_FOUND"
    assert [t.usable for t in issuer.list_admin_tokens()] == [True]


@pytest.mark.parametrize("limit", [-1, 2**31, 2**70, "5", True, 1.5])
def test_a_history_limit_out_of_range_is_a_value_error(issuer: Issuer, limit: object) -> None:
    with pytest.raises(ValueError, match="limit"):
        issuer.history(limit=limit)  # type: ignore[arg-type]
