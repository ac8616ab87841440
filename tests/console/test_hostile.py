"""The console against hostile or unusual input: what a review (issue 16) broke, kept broken-proof.

Each kind is table-tested through the real app (real Issuer on SQLite, the
ASGI app over httpx): query values the audit page parses, the failure
throttle against console sessions, the session cookie behind a TLS proxy, and
the live poll's effect on the idle clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from keywell.issuer import Issuer
from keywell.server import KeywellServer, ServerConfig, create_app
from keywell.server.console import Console, Sessions
from keywell.server.console.sessions import COOKIE
from tests.console.conftest import BASE, login

pytestmark = pytest.mark.anyio

# Values a query parameter of the audit page may carry: out of range, non-ASCII
# digits (str.isdigit accepts them; int() refuses some), signs, blanks, huge.
HOSTILE_QUERY_VALUES = [
    "9999999999",
    "2147483648",
    "99999999999999999999",
    "-1",
    "+1",
    " 1",
    "1.5",
    "0x10",
    "1e3",
    "²",
    "١٢",
    "１２",
    "𝟙",
    "\x00",
    "<script>alert(1)</script>",
    "a" * 5000,
    "",
]


def _console(server: KeywellServer) -> Console:
    assert server.console is not None
    return server.console


@pytest.mark.parametrize("field", ["before", "actor", "action", "keyset"])
@pytest.mark.parametrize("value", HOSTILE_QUERY_VALUES)
async def test_audit_query_values_never_fail_the_page(
    anon: httpx.AsyncClient, tokens: dict[str, str], field: str, value: str
) -> None:
    await login(anon, tokens["read"])
    r = await anon.get("/console/audit", params={field: value})
    # A filter the page cannot use is ignored (before) or names no set (keyset): never a 500.
    assert r.status_code in (200, 404), (field, value, r.status_code)
    assert "KW_INTERNAL" not in r.text
    assert "<script>alert(1)</script>" not in r.text


async def test_a_console_session_is_not_locked_out_by_others_failures(
    server: KeywellServer, tokens: dict[str, str]
) -> None:
    """Unknown tokens sent from a shared address (a proxy, a NAT) lock out guessers only.

    The admin API exempts bearer tokens the store accepted recently; a console
    session holds such a token server-side, so it is exempt the same way.
    """
    transport = httpx.ASGITransport(app=server)  # every client here is 127.0.0.1
    async with (
        httpx.AsyncClient(transport=transport, base_url=BASE, headers={"Origin": BASE}) as user,
        httpx.AsyncClient(transport=transport, base_url=BASE, headers={"Origin": BASE}) as guesser,
    ):
        csrf = await login(user, tokens["admin"])
        statuses = [
            (await guesser.post("/console/login", data={"token": f"kwa_guess{i}"})).status_code
            for i in range(7)
        ]
        assert statuses[-1] == 429  # the address is out of budget (limit 5)
        assert (await guesser.get("/console/keysets")).status_code == 429
        page = await user.get("/console/keysets")
        assert page.status_code == 200
        assert (await user.get("/console/keysets/default/live")).status_code == 200
        rotated = await user.post(
            "/console/keysets/default/rotate", data={"csrf": csrf, "emergency": "1"}
        )
        assert rotated.status_code == 303
        # a session lifts the throttle for its own requests, never for a login's guess
        guess = await user.post("/console/login", data={"token": "kwa_guess-with-a-session"})
        assert guess.status_code == 429
        # a made-up cookie is no exemption
        guesser.cookies.set(COOKIE, "made-up-session-id")
        assert (await guesser.get("/console/keysets")).status_code == 429


@pytest.fixture
async def proxied(issuer: Issuer) -> AsyncIterator[KeywellServer]:
    """The server as a TLS proxy on the same host reaches it: public https, plain loopback hop."""
    srv = create_app(issuer, ServerConfig(public_url="https://keys.example.com"))
    async with srv.running():
        yield srv


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost", "[::1]:9000"])
async def test_cookie_is_secure_when_the_public_url_is_https(
    proxied: KeywellServer, tokens: dict[str, str], host: str
) -> None:
    transport = httpx.ASGITransport(app=proxied)
    async with httpx.AsyncClient(
        transport=transport,
        base_url=f"http://{host}",
        headers={"Origin": "https://keys.example.com"},
    ) as c:
        r = await c.post("/console/login", data={"token": tokens["read"]})
        assert r.status_code == 303, r.text
        assert "; Secure" in r.headers["set-cookie"]


async def test_the_live_poll_does_not_keep_an_idle_session_alive(
    server: KeywellServer, anon: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    """An open key-set tab polls every second; without a click the session ends after ``idle``."""
    now = [0.0]
    _console(server).sessions = sessions = Sessions(idle=10, absolute=100, clock=lambda: now[0])
    _console(server).access.sessions = sessions
    await login(anon, tokens["read"])
    for t in (4.0, 8.0, 12.0):  # the poll alone, for longer than the idle bound
        now[0] = t
        r = await anon.get("/console/keysets/default/live")
        assert r.status_code == (200 if t < 10 else 401), t
    assert (await anon.get("/console/keysets")).status_code == 303  # to the login page
    assert len(sessions) == 0
    # a click restarts the idle clock as before
    await login(anon, tokens["read"])
    now[0] = 20.0
    assert (await anon.get("/console/keysets")).status_code == 200
    now[0] = 29.0
    assert (await anon.get("/console/keysets")).status_code == 200


@pytest.mark.parametrize(
    ("path", "to"),
    [
        ("/console", "/console/keysets"),
        ("/console/", "/console/keysets"),
        ("/console/keysets/", "/console/keysets"),
        ("/console/keysets/default/", "/console/keysets/default"),
        ("/console/audit/?actor=x", "/console/audit?actor=x"),
        ("/console/login/", "/console/login"),
        ("/console//evil.test/", "/console/evil.test"),
    ],
)
async def test_redirects_never_follow_the_host_header(
    server: KeywellServer, path: str, to: str
) -> None:
    """A Host header is the client's to choose: no redirect names it (Host-header open redirect)."""
    transport = httpx.ASGITransport(app=server)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
        r = await c.get(path, headers={"Host": "evil.test"})
    assert r.status_code in (303, 307, 308), r.status_code
    location = r.headers["location"]
    assert location == to
    assert r.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


@pytest.mark.parametrize("path", ["/console/nothing", "/console/keysets/default/nothing"])
async def test_an_unknown_console_path_is_a_console_page(
    anon: httpx.AsyncClient, path: str
) -> None:
    r = await anon.get(path)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


async def test_logging_in_again_ends_the_session_the_browser_held(
    server: KeywellServer, anon: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    await login(anon, tokens["read"])
    first = anon.cookies[COOKIE]
    await login(anon, tokens["admin"])
    assert anon.cookies[COOKIE] != first
    assert len(_console(server).sessions) == 1
    assert _console(server).sessions.get(first) is None


def test_one_token_cannot_crowd_out_the_others_sessions() -> None:
    """The table is bounded; one token logging in again and again evicts only its own sessions."""
    sessions = Sessions(max_sessions=10, per_actor=3)
    admin, _ = sessions.create("kwa_admin", "admin-token:admin", frozenset({"admin"}))
    flood = [
        sessions.create("kwa_read", "admin-token:reader", frozenset({"read"}))[0] for _ in range(50)
    ]
    assert sessions.get(admin) is not None
    assert len(sessions) == 4
    assert [sessions.get(s) is not None for s in flood[-4:]] == [False, True, True, True]


async def test_refusals_made_before_the_console_are_console_pages(
    anon: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    """A 10 MB paste (413), a method the page lacks (405), an address out of budget (429).

    Refused before a console handler runs, each is still a console page with
    the code, the console's headers and, for 429, its ``Retry-After``.
    """
    csrf = await login(anon, tokens["read"])
    cases = [
        (anon.post("/console/debugger", data={"csrf": csrf, "token": "a" * 10_000_000}), 413),
        (anon.post("/console/lint", data={"csrf": csrf, "jwks": "[" * 100_000}), 413),
        (anon.get("/console/logout"), 405),
        (anon.delete("/console/keysets/default"), 405),
    ]
    for call, status in cases:
        r = await call
        assert r.status_code == status
        assert r.headers["content-type"].startswith("text/html"), status
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert 'id="error-code">KW_' in r.text
    for i in range(6):
        await anon.post("/console/login", data={"token": f"kwa_wrong{i}"})
    r = await anon.post("/console/login", data={"token": "kwa_wrong"})
    assert r.status_code == 429
    assert r.headers["content-type"].startswith("text/html")
    assert 'id="error-code">KW_TOO_MANY_FAILURES' in r.text
    assert int(r.headers["retry-after"]) >= 1
    api = await anon.get("/admin/v1/keysets")  # the admin API keeps problem+json
    assert api.headers["content-type"] == "application/problem+json"
