"""Console login, session cookie, logout, expiry, revoked tokens and the failed-login throttle."""

from __future__ import annotations

import httpx
import pytest

from keywell.issuer import Issuer
from keywell.server import KeywellServer
from keywell.server.console import CSP, Console, Sessions
from keywell.server.console.sessions import COOKIE, cookie_header, csrf_ok, plain_loopback
from tests.console.conftest import BASE, csrf_of, login

pytestmark = pytest.mark.anyio


def _console(server: KeywellServer) -> Console:
    assert server.console is not None
    return server.console


async def test_pages_need_a_session(anon: httpx.AsyncClient) -> None:
    for path in (
        "/console/keysets",
        "/console/keysets/default",
        "/console/debugger",
        "/console/lint",
        "/console/audit",
    ):
        r = await anon.get(path)
        assert r.status_code == 303, path
        assert r.headers["location"] == "/console/login"
    live = await anon.get("/console/keysets/default/live?version=1")
    assert live.status_code == 401


async def test_login_sets_a_strict_httponly_cookie(
    anon: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    r = await anon.post("/console/login", data={"token": tokens["read"]})
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    for part in ("HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age=28800"):
        assert part in cookie
    assert "Secure" not in cookie  # plain http on loopback only
    assert tokens["read"] not in cookie  # the cookie is a random id, never the token
    page = await anon.get("/console/keysets")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CSP
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    assert 'data-keyset="default"' in page.text


async def test_cookie_is_secure_off_loopback(server: KeywellServer, tokens: dict[str, str]) -> None:
    transport = httpx.ASGITransport(app=server)
    for base in ("http://keywell.example", "https://keywell.example", "https://127.0.0.1"):
        async with httpx.AsyncClient(
            transport=transport, base_url=base, headers={"Origin": base}
        ) as c:
            r = await c.post("/console/login", data={"token": tokens["read"]})
            assert r.status_code == 303, (base, r.text)
            assert "; Secure" in r.headers["set-cookie"], base


@pytest.mark.parametrize(
    ("scheme", "host", "plain"),
    [
        ("http", "127.0.0.1:8080", True),
        ("http", "localhost", True),
        ("http", "[::1]:9000", True),
        ("https", "127.0.0.1", False),
        ("http", "example.com", False),
        ("http", "127.0.0.1.example.com", False),
        ("http", "", False),
    ],
)
def test_plain_loopback_rule(scheme: str, host: str, plain: bool) -> None:
    assert plain_loopback(scheme, host) is plain


@pytest.mark.parametrize("secret", ["", "kwa_unknown", "x" * 600, "kwa_\x00bad"])
async def test_bad_tokens_do_not_log_in(anon: httpx.AsyncClient, secret: str) -> None:
    r = await anon.post("/console/login", data={"token": secret})
    assert r.status_code == 401
    assert "set-cookie" not in r.headers
    assert "That token is not valid." in r.text
    if secret:
        assert secret not in r.text


async def test_token_without_read_cannot_log_in(
    anon: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    for scope in ("sign", "metrics"):
        r = await anon.post("/console/login", data={"token": tokens[scope]})
        assert r.status_code == 403
        assert "lacks the read scope" in r.text
        assert "set-cookie" not in r.headers


async def test_failed_logins_are_throttled(anon: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    """Unknown tokens cost store lookups: the server's FailureThrottle answers 429 (limit 5)."""
    statuses = [
        (await anon.post("/console/login", data={"token": f"kwa_wrong{i}"})).status_code
        for i in range(7)
    ]
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429, 429]
    # the address waits, whatever it sends next (a login form carries no bearer header to vouch for)
    r = await anon.post("/console/login", data={"token": tokens["read"]})
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) >= 1


async def test_login_refuses_cross_origin(server: KeywellServer, tokens: dict[str, str]) -> None:
    transport = httpx.ASGITransport(app=server)
    cases = [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site", "Origin": BASE},
        {"Sec-Fetch-Site": "same-site"},
        {},
    ]
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
        for headers in cases:
            r = await c.post("/console/login", data={"token": tokens["read"]}, headers=headers)
            assert r.status_code == 403, headers
            assert "KW_CROSS_ORIGIN" in r.text
            assert "set-cookie" not in r.headers
        ok = await c.post(
            "/console/login",
            data={"token": tokens["read"]},
            headers={"Sec-Fetch-Site": "same-origin"},
        )
        assert ok.status_code == 303


async def test_logout_ends_the_session_server_side(
    server: KeywellServer, anon: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    csrf = await login(anon, tokens["read"])
    sid = anon.cookies[COOKIE]
    assert len(_console(server).sessions) == 1
    r = await anon.post("/console/logout", data={"csrf": csrf})
    assert r.status_code == 303
    assert "Max-Age=0" in r.headers["set-cookie"]
    assert len(_console(server).sessions) == 0
    # the old id, replayed, opens nothing
    transport = httpx.ASGITransport(app=server)
    async with httpx.AsyncClient(transport=transport, base_url=BASE, cookies={COOKIE: sid}) as c:
        assert (await c.get("/console/keysets")).status_code == 303


async def test_logout_needs_the_csrf_token(
    anon: httpx.AsyncClient, server: KeywellServer, tokens: dict[str, str]
) -> None:
    await login(anon, tokens["read"])
    r = await anon.post("/console/logout", data={"csrf": "wrong"})
    assert r.status_code == 403
    assert len(_console(server).sessions) == 1


async def test_a_revoked_token_ends_its_session(
    anon: httpx.AsyncClient, issuer: Issuer, server: KeywellServer, tokens: dict[str, str]
) -> None:
    await login(anon, tokens["read"])
    info = issuer.admin_token_info(tokens["read"])
    assert info is not None
    issuer.revoke_admin_token(token_id=info.id)
    server.authenticator._cache.clear()  # the server's cache bound (0.25 s) passes at once
    r = await anon.get("/console/keysets")
    assert r.status_code == 303
    assert r.headers["location"] == "/console/login"
    assert len(_console(server).sessions) == 0


def test_sessions_expire_idle_and_absolute() -> None:
    now = [0.0]
    sessions = Sessions(idle=10, absolute=30, clock=lambda: now[0])
    sid, _ = sessions.create("kwa_secret", "admin-token:x", frozenset({"read"}))
    for t in (9.0, 18.0, 27.0):  # each request restarts the idle clock
        now[0] = t
        assert sessions.get(sid) is not None
    now[0] = 30.0  # the absolute bound wins
    assert sessions.get(sid) is None
    sid, _ = sessions.create("kwa_secret", "admin-token:x", frozenset({"read"}))
    now[0] = 40.1  # idle for more than 10 s
    assert sessions.get(sid) is None
    assert len(sessions) == 0


def test_session_ids_are_random_and_secrets_stay_out_of_reprs() -> None:
    sessions = Sessions()
    ids = set()
    for _ in range(50):
        sid, session = sessions.create("kwa_topsecret", "admin-token:x", frozenset({"read"}))
        ids.add(sid)
        assert len(sid) >= 43
        assert "kwa_topsecret" not in repr(session)
        assert session.csrf not in repr(session)
    assert len(ids) == 50
    assert "kwa_topsecret" not in repr(sessions)
    for bad in (None, "", "x" * 500, "unknown"):
        assert sessions.get(bad) is None


def test_csrf_comparison() -> None:
    _, session = Sessions().create("kwa_s", "a", frozenset())
    assert csrf_ok(session, session.csrf)
    for bad in (None, "", session.csrf[:-1], session.csrf + "x", "\udcff"):
        assert not csrf_ok(session, bad)


def test_cookie_header_shapes() -> None:
    assert cookie_header("abc", path="/console", secure=True, max_age=5) == (
        "keywell_console=abc; Path=/console; HttpOnly; SameSite=Strict; Max-Age=5; Secure"
    )
    assert "Secure" not in cookie_header("abc", path="/console", secure=False, max_age=0)


async def test_csrf_of_pages(anon: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    csrf = await login(anon, tokens["read"])
    page = await anon.get("/console/debugger")
    assert csrf_of(page.text) == csrf


async def test_the_console_can_be_turned_off(issuer: Issuer, tokens: dict[str, str]) -> None:
    from keywell.server import ServerConfig, create_app

    srv = create_app(issuer, ServerConfig(public_url=BASE, console=False))
    assert srv.console is None
    async with srv.running():
        transport = httpx.ASGITransport(app=srv)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
            for path in ("/console/login", "/console/keysets", "/console/static/console.js"):
                r = await c.get(path)
                assert r.status_code == 404, path
                assert r.headers["content-type"] == "application/problem+json"
            assert (await c.get("/.well-known/jwks.json")).status_code == 200
