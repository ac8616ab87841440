"""The input rules of ``keywell.lifecycle.names``: tables of members, properties over any text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keywell.errors import InvalidInputError
from keywell.lifecycle.names import (
    check_issuer,
    check_keyset_name,
    check_kid,
    check_reason,
    is_keyset_name,
    is_kid,
)

CONTROLS = ["\x00", "\x01", "\t", "\n", "\r", "\x1b", "\x7f", "\x85", "\x9f", "\u2028", "\u202e"]
CONTROLS += ["\u200b", "\ufeff", "\ud800", "\udfff"]


@pytest.mark.parametrize(
    "name", ["a", "default", "A.b_c-1", "9", "a" * 100, "x..y"], ids=lambda v: repr(v)[:20]
)
def test_valid_keyset_names(name: str) -> None:
    assert check_keyset_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", " ", "a" * 101, ".", "..", ".hidden", "-x", "_x", "a/b", "a\\b", "a b", "d\u0435fault",
     "default\n", "a%2Fb", "a:b", 5, None, b"abc"]
    + [f"a{c}" for c in CONTROLS],
    ids=lambda v: repr(v)[:20],
)  # fmt: skip
def test_invalid_keyset_names(name: object) -> None:
    assert not is_keyset_name(name)
    with pytest.raises(InvalidInputError) as info:
        check_keyset_name(name)
    assert info.value.field == "name"
    assert info.value.code == "KW_INVALID_INPUT"


@pytest.mark.parametrize(
    "issuer",
    ["https://issuer.test", "https://issuer.test/", "https://i.test:8443/tenants/a",
     "http://127.0.0.1:8080", "http://localhost", "http://[::1]:80/x", "http://127.5.0.1",
     "https://xn--ssuer-3ve.test"],
)  # fmt: skip
def test_valid_issuers(issuer: str) -> None:
    assert check_issuer(issuer) == issuer


@pytest.mark.parametrize(
    "issuer",
    ["", "svc-a", "issuer.test", "http://issuer.test", "http://10.0.0.1", "ftp://issuer.test",
     "https://", "https:///path", "https://user:pw@issuer.test", "https://issuer.test?x=1",
     "https://issuer.test#f", "https://issuer.test:99999", "https://[::1", "https://іssuer.test",
     "https://issuer.test/a b", "https://" + "a" * 2048, "javascript:alert(1)", 7, None]
    + [f"https://issuer.test/{c}" for c in CONTROLS],
    ids=lambda v: repr(v)[:30],
)  # fmt: skip
def test_invalid_issuers(issuer: object) -> None:
    with pytest.raises(InvalidInputError) as info:
        check_issuer(issuer)
    assert info.value.field == "issuer"


@pytest.mark.parametrize("bad", ["", "a" * 257, 3, *(f"k{c}" for c in CONTROLS)])
def test_invalid_kids(bad: object) -> None:
    assert not is_kid(bad)
    with pytest.raises(InvalidInputError):
        check_kid(bad)


@pytest.mark.parametrize(
    "bad", ["", " ", "\t", "x" * 501, None, *(f"key leaked{c}" for c in CONTROLS)]
)
def test_invalid_reasons(bad: object) -> None:
    with pytest.raises(InvalidInputError) as info:
        check_reason(bad)
    assert info.value.field == "reason"


def test_a_reason_may_be_any_printable_text() -> None:
    for reason in ("compromised", "clé compromise", "..", "a/b", "x" * 500):
        assert check_reason(reason) == reason


@given(st.text(st.characters(codec=None), max_size=120))
def test_every_accepted_value_is_storable_text(value: str) -> None:
    """Whatever the rule accepts encodes as UTF-8 without NUL or controls; nothing else escapes."""
    for check in (check_keyset_name, check_kid, check_reason, check_issuer):
        try:
            accepted = check(value)
        except InvalidInputError:
            continue
        assert accepted == value
        assert "\x00" not in value
        assert value.encode("utf-8")  # no lone surrogate
        assert all(ch.isprintable() for ch in value)


@given(st.text(max_size=120))
def test_the_issuer_rule_never_raises_anything_else(value: str) -> None:
    for candidate in (value, "https://" + value, "http://" + value):
        try:
            outcome = check_issuer(candidate)
        except InvalidInputError as exc:  # the one way it refuses
            outcome = exc.field
        assert outcome in (candidate, "issuer")
