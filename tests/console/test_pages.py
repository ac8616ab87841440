"""Console pages: the key-set list, the live part, the timeline, lint, audit, static files."""

from __future__ import annotations

import base64
import json
import logging
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from keywell.issuer import Issuer
from keywell.lifecycle import KeyInfo, KeySetInfo, KeyState, RotationPolicy
from keywell.server.console import CSP
from keywell.server.console.facts import custody_of, health
from keywell.server.console.timeline import draw_timeline
from tests.console.conftest import login

pytestmark = pytest.mark.anyio


async def test_keyset_list(anon: httpx.AsyncClient, issuer: Issuer, tokens: dict[str, str]) -> None:
    await login(anon, tokens["read"])
    r = await anon.get("/console/keysets")
    for name, alg in (("default", "ES256"), ("other", "EdDSA")):
        active = next(k.kid for k in issuer.keys(name) if k.state is KeyState.ACTIVE)
        row = re.search(rf'<tr data-keyset="{name}">(.*?)</tr>', r.text)
        assert row is not None
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))
        assert cells[1:4] == [alg, "db", f"<code>{active}</code>"]
        assert cells[4].startswith("in 29d")  # 30 days after activation, 3 h ago
        assert cells[5] == "healthy"


async def test_live_part_answers_204_until_the_version_moves(
    anon: httpx.AsyncClient, issuer: Issuer, tokens: dict[str, str]
) -> None:
    csrf = await login(anon, tokens["admin"])
    version = issuer.get_keyset("default").version
    r = await anon.get(f"/console/keysets/default/live?version={version}")
    assert r.status_code == 204
    r = await anon.get("/console/keysets/default/live?version=-1")
    assert r.status_code == 200
    assert r.text.startswith(f'<div id="live" data-version="{version}"')
    await anon.post("/console/keysets/default/rotate", data={"csrf": csrf, "emergency": "1"})
    r = await anon.get(f"/console/keysets/default/live?version={version}")
    assert r.status_code == 200
    assert f'data-version="{issuer.get_keyset("default").version}"' in r.text


async def test_static_files_are_packaged(anon: httpx.AsyncClient) -> None:
    for name, media in (("console.js", "text/javascript"), ("console.css", "text/css")):
        r = await anon.get(f"/console/static/{name}")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith(media)
        assert r.headers["content-security-policy"] == CSP
        again = await anon.get(
            f"/console/static/{name}", headers={"If-None-Match": r.headers["etag"]}
        )
        assert again.status_code == 304
    for bad in ("nope.js", "..%2Fapp.py", "console.js%00"):
        assert (await anon.get(f"/console/static/{bad}")).status_code == 404


async def test_no_inline_script_or_style(anon: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    await login(anon, tokens["read"])
    for path in (
        "/console/login",
        "/console/keysets",
        "/console/keysets/default",
        "/console/debugger",
        "/console/lint",
        "/console/audit",
    ):
        r = await anon.get(path)
        assert r.headers["content-security-policy"] == CSP, path
        assert re.search(r"<script(?![^>]*\bsrc=)", r.text) is None, path
        assert "<style" not in r.text
        assert " style=" not in r.text
        assert "on" + "click" not in r.text


async def test_lint_shows_the_findings(
    anon: httpx.AsyncClient, issuer: Issuer, tokens: dict[str, str]
) -> None:
    csrf = await login(anon, tokens["read"])
    good = issuer.jwks("default").body.decode()
    r = await anon.post("/console/lint", data={"csrf": csrf, "jwks": good})
    assert 'class="verdict ok"' in r.text
    private = json.loads(good)
    private["keys"][0]["d"] = "AAAA"
    for text in (json.dumps(private), "[]", "{", '{"keys": [{"kty": "RSA", "n": "<b>"}]}'):
        r = await anon.post("/console/lint", data={"csrf": csrf, "jwks": text})
        assert r.status_code == 200
        assert 'data-code="' in r.text
        assert "<b>" not in r.text.split('id="result"')[1]


async def test_audit_filters_and_pages(
    anon: httpx.AsyncClient, issuer: Issuer, tokens: dict[str, str]
) -> None:
    for i in range(60):
        issuer.update_issuer("other", f"https://issuer.console.test/o{i}", actor="console-test")
    await login(anon, tokens["read"])
    r = await anon.get("/console/audit?keyset=other&actor=console-test&action=update_issuer")
    ids = [int(i) for i in re.findall(r'<tr data-id="(\d+)">', r.text)]
    assert len(ids) == 50
    assert ids == sorted(ids, reverse=True)
    older = re.search(r'id="older" href="([^"]+)"', r.text)
    assert older is not None
    r = await anon.get(older.group(1).replace("&amp;", "&"))
    rest = [int(i) for i in re.findall(r'<tr data-id="(\d+)">', r.text)]
    assert len(rest) == 10
    assert max(rest) < min(ids)
    assert 'id="older"' not in r.text
    every = {e.id for e in issuer.history("other", limit=1000, actor="console-test")}
    assert set(ids) | set(rest) == every
    r = await anon.get("/console/audit?actor=nobody")
    assert "No events match." in r.text
    for bad in ("keyset=bad%20name", "keyset=" + "x" * 300):
        assert (await anon.get(f"/console/audit?{bad}")).status_code == 404
    r = await anon.get("/console/audit?before=abc&actor=" + "<i>" * 10)
    assert r.status_code == 200
    assert "<i>" not in r.text


async def test_nothing_pasted_is_logged(
    anon: httpx.AsyncClient,
    issuer: Issuer,
    tokens: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = issuer.sign("default", {"sub": "alice"})
    caplog.set_level(logging.DEBUG)
    csrf = await login(anon, tokens["read"])
    await anon.post("/console/debugger", data={"csrf": csrf, "token": token})
    await anon.post("/console/lint", data={"csrf": csrf, "jwks": '{"keys": [{"d": "secretish"}]}'})
    text = "\n".join(r.getMessage() + repr(vars(r)) for r in caplog.records)
    assert token not in text
    assert "secretish" not in text
    assert tokens["read"] not in text


def _key(kid: str, state: KeyState, **times: datetime) -> KeyInfo:
    base = {
        f: None for f in ("published_at", "activated_at", "retired_at", "expires_at", "revoked_at")
    }
    base.update(times)
    return KeyInfo(
        kid=kid,
        state=state,
        alg="ES256",
        created_at=times.get("published_at", NOW),
        revoke_reason=None,
        **base,
    )  # type: ignore[arg-type]


NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
H = timedelta(hours=1)
POLICY = RotationPolicy(rotation_period=10 * H, prepublish=5 * H, max_token_ttl=H, jwks_max_age=H)


def _info(policy: RotationPolicy = POLICY) -> KeySetInfo:
    return KeySetInfo("ts", "https://i.test", "ES256", policy, 7, NOW - 100 * H)


def test_timeline_draws_each_state_and_the_projections() -> None:
    keys = [
        _key(
            "old",
            KeyState.EXPIRED,
            published_at=NOW - 40 * H,
            activated_at=NOW - 30 * H,
            retired_at=NOW - 20 * H,
            expires_at=NOW - 18 * H,
        ),
        _key(
            "gone",
            KeyState.REVOKED,
            published_at=NOW - 30 * H,
            activated_at=NOW - 20 * H,
            revoked_at=NOW - 8 * H,
        ),
        _key(
            "prev",
            KeyState.RETIRED,
            published_at=NOW - 20 * H,
            activated_at=NOW - 8 * H,
            retired_at=NOW - H,
            expires_at=NOW + H,
        ),
        _key("cur", KeyState.ACTIVE, published_at=NOW - 8 * H, activated_at=NOW - H),
        _key("next", KeyState.PENDING, published_at=NOW - H),
    ]
    svg = draw_timeline(_info(), keys, NOW)
    assert svg.startswith('<svg class="timeline"')
    for kid, state in (
        ("gone", "revoked"),
        ("prev", "retired"),
        ("cur", "active"),
        ("next", "pending"),
    ):
        assert f'data-kid="{kid}" data-state="{state}"' in svg
    due = NOW + 9 * H  # activated 1 h ago + 10 h period (prepublish 5 h ends earlier)
    assert f'data-due="{due.isoformat()}"' in svg
    assert "next rotation 2026-06-01 21:00:00 UTC" in svg
    assert (
        "prepublish window: published 2026-06-01 11:00:00 UTC; "
        "may sign from 2026-06-01 16:00:00 UTC" in svg
    )
    assert "leaves the JWKS: 2026-06-01 13:00:00 UTC" in svg  # prev: retention after retirement
    assert "leaves the JWKS: 2026-06-01 04:00:00 UTC" in svg  # gone: at its revocation
    assert (
        "kept for verifiers: 2026-06-01 21:00:00 UTC → 2026-06-01 22:01:00 UTC" in svg
    )  # cur, projected
    assert 'class="mark now"' in svg


@pytest.mark.parametrize(
    ("states", "level"),
    [
        ((KeyState.ACTIVE, KeyState.PENDING), "ok"),
        ((KeyState.ACTIVE,), "warn"),
        ((KeyState.PENDING,), "error"),
        ((), "error"),
    ],
)
def test_health(states: tuple[KeyState, ...], level: str) -> None:
    keys = [_key(s.value, s, published_at=NOW - H, activated_at=NOW - H) for s in states]
    assert health(_info(), keys, NOW)[0] == level


def test_health_says_when_rotation_is_overdue() -> None:
    keys = [
        _key("a", KeyState.ACTIVE, published_at=NOW - 30 * H, activated_at=NOW - 20 * H),
        _key("p", KeyState.PENDING, published_at=NOW - 20 * H),
    ]
    assert health(_info(), keys, NOW) == ("warn", "rotation overdue by 10h")


def test_custody_defaults_to_the_store() -> None:
    assert custody_of(_info()) == "db"


HOSTILE = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "'><svg onload=alert(1)>"]


@pytest.mark.parametrize("evil", HOSTILE)
async def test_every_echo_is_escaped(
    anon: httpx.AsyncClient, issuer: Issuer, tokens: dict[str, str], evil: str
) -> None:
    """Whatever reaches a page (claims, header, lint input, filters, actors) is text, not markup."""
    csrf = await login(anon, tokens["admin"])
    b64 = lambda o: base64.urlsafe_b64encode(json.dumps(o).encode()).rstrip(b"=").decode()  # noqa: E731
    token = f"{b64({'alg': 'ES256', 'kid': evil, evil: 1})}.{b64({'sub': evil, evil: evil})}.AAAA"
    pages = [
        await anon.post("/console/debugger", data={"csrf": csrf, "token": token, "audience": evil}),
        await anon.post(
            "/console/lint", data={"csrf": csrf, "jwks": json.dumps({"keys": [{"kid": evil}]})}
        ),
        await anon.get("/console/audit", params={"actor": evil, "action": evil}),
        await anon.get("/console/keysets/default/revoke", params={"kid": evil}),
    ]
    issuer.update_issuer("other", "https://issuer.console.test/x", actor=evil[:60])
    pages.append(await anon.get("/console/audit", params={"keyset": "other"}))
    for r in pages:
        assert r.status_code == 200, r.text
        assert evil not in r.text
        assert r.text.count("<script") == 1  # the layout's packaged script only
    assert "&lt;" in pages[-1].text
