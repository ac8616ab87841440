"""The console in a real browser: Debian's chromium driven by Playwright, a real ``keywell serve``.

A person's path through the console: log in, read the key sets and the
timeline, watch the timeline follow a change made elsewhere without a reload,
paste a good, an expired and a tampered token into the debugger, rotate from
the UI and find the new key in ``GET /.well-known/jwks.json``, revoke with the
kid typed back, log out. Then the refusals: an action without its CSRF token,
an action without the scope. Screenshots go to ``artifacts/screenshots/``
(kept by CI). Playwright launches chromium without its sandbox by default
(``chromium_sandbox=False`` adds ``--no-sandbox``), which is what lets it run
as root in CI containers.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from keywell.issuer import Issuer
from keywell.lifecycle import KeyState, RotationPolicy
from keywell.store.kek import KEKRing
from tests.server.procutil import Deployment, ServerProcess

pytestmark = pytest.mark.slow
# a shared CI machine may be slow to render; bounds a hang, asserts no speed
expect.set_options(timeout=20_000)

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
ISSUER = "https://issuer.browser.test"
# Planned rotations are possible at once: the pending key was published 3 h ago, prepublish is 1 h.
POLICY = RotationPolicy(
    rotation_period=timedelta(days=1),
    prepublish=timedelta(hours=1),
    jwks_max_age=timedelta(minutes=5),
)


class Site:
    """The served store: its server process, admin tokens and tokens signed three hours ago."""

    def __init__(self, tmp: Path) -> None:
        url = f"sqlite:///{tmp / 'console.db'}"
        kek = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
        env = {**os.environ, "KEYWELL_KEK": kek, "KEYWELL_DATABASE_URL": url}
        env.pop("KEYWELL_KEK_FILE", None)
        then = datetime.now(UTC) - timedelta(hours=3)
        past = Issuer(url, keks=KEKRing.from_env(env), clock=lambda: then, auto_upgrade=True)
        try:
            past.create_keyset("default", issuer=ISSUER, policy=POLICY)
            self.expired = past.sign("default", {"sub": "alice"}, ttl=600)
            self.admin = past.create_admin_token(["admin"], name="browser-admin", ttl=None)
            self.reader = past.create_admin_token(["read"], name="browser-read", ttl=None)
        finally:
            past.close()
        self.log = tmp / "serve.log"
        self.server = ServerProcess(Deployment(url=url, env=env, admin=self.admin), self.log)
        self.base = self.server.base
        self.http = httpx.Client(base_url=self.base, timeout=30)

    def mint(self) -> str:
        r = self.http.post(
            "/admin/v1/keysets/default/tokens",
            json={"claims": {"sub": "alice"}, "ttl": 300},
            headers={"Authorization": f"Bearer {self.admin}"},
        )
        assert r.status_code == 201, r.text
        return str(r.json()["token"])

    def jwks_kids(self) -> set[str]:
        return {k["kid"] for k in self.http.get("/.well-known/jwks.json").json()["keys"]}

    def key_list(self) -> list[dict[str, str]]:
        r = self.http.get(
            "/admin/v1/keysets/default/keys", headers={"Authorization": f"Bearer {self.admin}"}
        )
        return list(r.json())

    def kid(self, state: KeyState) -> str:
        return next(k["kid"] for k in self.key_list() if k["state"] == state.value)

    def close(self) -> None:
        self.http.close()
        self.server.stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    s = Site(tmp_path_factory.mktemp("console-browser"))
    yield s
    s.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    yield context.new_page()
    context.close()


def _login(page: Page, site: Site, secret: str) -> None:
    page.goto(f"{site.base}/console")
    expect(page).to_have_url(f"{site.base}/console/login")
    page.fill("#token", secret)
    page.click("#login")
    expect(page).to_have_url(f"{site.base}/console/keysets")


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)


def test_a_person_uses_the_console(site: Site, page: Page) -> None:
    _login(page, site, site.admin)
    row = page.locator('tr[data-keyset="default"]')
    expect(row).to_contain_text(site.kid(KeyState.ACTIVE))
    expect(row.locator("td.health")).to_have_text("healthy")

    # the key set: timeline, keys, the JWKS exactly as served
    page.click('a[href="/console/keysets/default"]')
    active, pending = site.kid(KeyState.ACTIVE), site.kid(KeyState.PENDING)
    expect(page.locator(f'svg g.key[data-kid="{active}"][data-state="active"]')).to_have_count(1)
    expect(page.locator(f'svg g.key[data-kid="{pending}"][data-state="pending"]')).to_have_count(1)
    expect(page.locator("svg rect.prepublish")).to_have_count(1)
    served = site.http.get("/.well-known/jwks.json")
    assert page.inner_text("#jwks-body") == served.text
    assert page.inner_text("#jwks-etag") == served.headers["etag"]
    assert page.inner_text("#jwks-cache-control") == served.headers["cache-control"]

    # the page follows a change made elsewhere (a longer prepublish), without a reload
    page.evaluate("window.notReloaded = true")
    version = page.get_attribute("#live", "data-version")
    policy = {
        "rotation_period": 86400,
        "prepublish": 7200,
        "max_token_ttl": 3600,
        "jwks_max_age": 300,
        "clock_skew": 60,
    }
    r = site.http.put(
        "/admin/v1/keysets/default/policy",
        headers={"Authorization": f"Bearer {site.admin}"},
        json=policy,
    )
    assert r.status_code == 200
    expect(page.locator("#live")).not_to_have_attribute("data-version", str(version))
    expect(page.locator("#live")).to_have_attribute("data-version", str(r.json()["version"]))
    window = page.locator("svg rect.prepublish title").text_content() or ""
    published = datetime.fromisoformat(
        next(k["published_at"] for k in site.key_list() if k["kid"] == pending)
    )
    assert f"may sign from {published + timedelta(hours=2):%Y-%m-%d %H:%M:%S} UTC" in window
    assert page.evaluate("window.notReloaded") is True
    assert page.inner_text("#jwks-body") == site.http.get("/.well-known/jwks.json").text

    # the debugger: good, expired, tampered
    page.click('nav a[href="/console/debugger"]')
    good = site.mint()
    head, body, sig = good.split(".")
    tampered = f"{head}.{body[:-2]}{'A' if body[-2] != 'A' else 'B'}{body[-1]}.{sig}"
    for token, verdict in (
        (good, None),
        (tampered, "KW_INVALID_SIGNATURE"),
        (site.expired, "KW_TOKEN_EXPIRED"),
    ):
        page.fill("#token", token)
        page.click("#debug")
        if verdict is None:
            expect(page.locator("#verdict")).to_have_class("verdict ok")
            expect(page.locator('tr[data-claim="sub"]')).to_contain_text('"alice"')
        else:
            expect(page.locator("#verdict-code")).to_have_text(verdict)
        expect(page.locator("#verdict-keyset")).to_have_text("default")
        expect(page.locator("#token")).to_have_value("")  # never echoed back
    expect(page.locator('tr[data-claim="exp"] td.when')).to_contain_text("ago")
    _shot(page, "console-debugger.png")

    # rotate from the UI, then find the new key in the published JWKS
    page.click('nav a[href="/console/keysets"]')
    page.click('a[href="/console/keysets/default"]')
    before = site.jwks_kids()
    page.click("#rotate")
    expect(page.locator(".flash.ok")).to_contain_text("rotation done")
    new = site.jwks_kids() - before
    assert len(new) == 1
    (new_kid,) = new
    assert new_kid == site.kid(KeyState.PENDING)
    expect(page.locator(f'table.keys tr[data-kid="{new_kid}"]')).to_have_attribute(
        "data-state", "pending"
    )

    # revoke the active key: the kid must be typed back; the pending key takes over
    active, pending = site.kid(KeyState.ACTIVE), site.kid(KeyState.PENDING)
    page.click(f'table.keys tr[data-kid="{active}"] a.revoke')
    expect(page.locator("main")).to_contain_text(f"The pending key {pending} takes over signing")
    page.fill("#confirm", active[:-1])
    page.fill("#reason", "key leaked in a test")
    page.click("#revoke")
    expect(page.locator(".flash.error")).to_contain_text("does not match")
    page.fill("#confirm", active)
    page.fill("#reason", "key leaked in a test")
    page.click("#revoke")
    expect(page.locator(".flash.ok")).to_contain_text(f"revoked {active}")
    assert active not in site.jwks_kids()
    assert site.kid(KeyState.ACTIVE) == pending
    expect(page.locator(f'svg g.key[data-kid="{active}"][data-state="revoked"]')).to_have_count(1)
    _shot(page, "console-keyset.png")

    # the audit log, filtered
    page.click('nav a[href="/console/audit"]')
    page.select_option("#f-keyset", "default")
    page.fill("#f-action", "revoke")
    page.click("#filter")
    rows = page.locator("table.audit tbody tr")
    expect(rows.filter(has_text=active)).not_to_have_count(0)
    assert set(rows.locator("td:nth-child(4)").all_inner_texts()) == {"revoke"}
    assert set(rows.locator("td:nth-child(2)").all_inner_texts()) == {"default"}
    expect(rows.filter(has_text="key leaked in a test")).not_to_have_count(0)

    # log out: the session is over on the server too
    cookie = next(c for c in page.context.cookies() if c["name"] == "keywell_console")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    page.click("header form.logout button")
    expect(page).to_have_url(f"{site.base}/console/login")
    replay = site.http.get(
        "/console/keysets", headers={"Cookie": f"keywell_console={cookie['value']}"}
    )
    assert replay.status_code == 303

    # nothing pasted, and no admin token, reached the server's log
    log = site.log.read_text(errors="replace")
    for secret in (good, tampered, site.expired, site.admin):
        assert secret not in log


def test_actions_without_csrf_or_scope_are_refused(site: Site, page: Page) -> None:
    _login(page, site, site.admin)
    page.goto(f"{site.base}/console/keysets/default")
    active = site.kid(KeyState.ACTIVE)
    page.evaluate("document.querySelectorAll('form input[name=csrf]').forEach(e => e.remove())")
    page.click("#emergency-rotate")
    expect(page.locator("#error-code")).to_have_text("KW_CSRF")
    assert site.kid(KeyState.ACTIVE) == active

    reader = page.context.browser.new_context() if page.context.browser else None
    assert reader is not None
    other = reader.new_page()
    try:
        _login(other, site, site.reader)
        other.goto(f"{site.base}/console/keysets/default")
        other.click("#emergency-rotate")
        expect(other.locator("#error-code")).to_have_text("KW_FORBIDDEN")
        expect(other.locator("#error")).to_contain_text("lacks the 'rotate' scope")
        other.goto(f"{site.base}/console/keysets/default/revoke?kid={active}")
        expect(other.locator("#error-code")).to_have_text("KW_FORBIDDEN")
    finally:
        reader.close()
    assert site.kid(KeyState.ACTIVE) == active
    log_lines = [json.loads(x) for x in site.log.read_text().splitlines() if x.startswith("{")]
    assert not [x for x in log_lines if x.get("level") == "error"]


def test_every_page_loads_without_a_browser_error(site: Site, page: Page) -> None:
    # what the browser itself reports: a failed load (a 404 /favicon.ico), a CSP
    # violation, a script error; each page is loaded as a person reaches it
    errors: list[str] = []
    page.on(
        "console",
        lambda m: errors.append(f"{m.type}: {m.text} {m.location}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    _login(page, site, site.admin)
    for path in (
        "/console/keysets",
        "/console/keysets/default",
        "/console/debugger",
        "/console/lint",
        "/console/audit",
    ):
        page.goto(f"{site.base}{path}")
        page.wait_for_load_state("networkidle")
        expect(page.locator("h1")).not_to_be_empty()
    assert errors == []
