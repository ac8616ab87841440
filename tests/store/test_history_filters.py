"""Audit reads filtered by actor and action, paged by id, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from keywell.issuer import Issuer
from keywell.store.kek import KEKRing


def test_history_filters_and_pages(any_url: str) -> None:
    issuer = Issuer(any_url, keks=KEKRing.generate(), auto_upgrade=True)
    try:
        issuer.create_keyset("a", issuer="https://a.test", actor="alice")
        issuer.create_keyset("b", issuer="https://b.test", actor="bob")
        for i in range(7):
            issuer.update_issuer("a", f"https://a.test/{i}", actor="alice")
        issuer.rotate("b", emergency=True, actor="bob")
        every = issuer.history(limit=1000)
        for actor in ("alice", "bob", "nobody"):
            assert issuer.history(limit=1000, actor=actor) == [e for e in every if e.actor == actor]
        for action in {e.action for e in every} | {"nothing"}:
            got = issuer.history("a", limit=1000, action=action)
            assert got == [e for e in every if e.action == action and e.keyset == "a"]
        pages, before = [], None
        while True:
            page = issuer.history(limit=3, before=before)
            if not page:
                break
            pages.extend(page)
            before = page[-1].id
        assert pages == every
    finally:
        issuer.close()


@pytest.mark.parametrize("before", [-1, 2**31, 1.5, "3", True])
def test_history_refuses_a_bad_cursor(sqlite_url: str, before: object) -> None:
    issuer = Issuer(sqlite_url, keks=KEKRing.generate(), auto_upgrade=True)
    try:
        with pytest.raises(ValueError, match="before must be an integer"):
            issuer.history(limit=5, before=before)  # type: ignore[arg-type]
    finally:
        issuer.close()
