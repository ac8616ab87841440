"""Markup injection through every value that reaches a console page, in a real browser.

Each payload breaks out of one HTML context (text, a double- or single-quoted
attribute, a ``<textarea>``, ``<title>``, a ``<script>``, an SVG) and would
add an element whose ``id`` starts with ``pwn``. The values travel the way an
attacker would send them: an admin token's name (shown in the audit log), a
revocation reason (the key table and the audit log), the audit filters and the
revoke link's ``kid`` (reflected from the query), a pasted token's header and
claims (the debugger) and a pasted JWK Set's kid (the lint). Every page must
show the payload as text and hold no ``pwn`` element, and no script may run.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from keywell.issuer import Issuer
from keywell.lifecycle import KeyState
from keywell.store.kek import KEKRing
from tests.server.procutil import Deployment, ServerProcess

pytestmark = pytest.mark.slow
expect.set_options(timeout=20_000)  # bounds a hang on a loaded machine; asserts no speed

CHROMIUM = "/usr/bin/chromium"
PAYLOADS = [
    "<img src=x id=pwn1 onerror=alert(1)>",
    '"><b id=pwn2>',
    "'><b id=pwn3>",
    "</textarea><b id=pwn4>",
    "</title><b id=pwn5>",
    "<script id=pwn6>alert(1)</script>",
    "<svg id=pwn7 onload=alert(1)>",
]


DIALOGS: list[str] = []  # what an injected alert() would have said
FAILED: list[str] = []  # responses >= 400 and console errors (a stray /favicon.ico was one)


def _b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


class HostileSite:
    """A served store whose audit log and keys carry every payload."""

    def __init__(self, tmp: Path) -> None:
        url = f"sqlite:///{tmp / 'hostile.db'}"
        kek = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
        env = {**os.environ, "KEYWELL_KEK": kek, "KEYWELL_DATABASE_URL": url}
        env.pop("KEYWELL_KEK_FILE", None)
        issuer = Issuer(url, keks=KEKRing.from_env(env), auto_upgrade=True)
        try:
            issuer.create_keyset("default", issuer="https://issuer.hostile.test")
            self.admin = issuer.create_admin_token(["admin"], name="hostile-admin", ttl=None)
            for payload in PAYLOADS:  # an admin token's name reaches the audit log
                issuer.create_admin_token(["read"], name=payload, ttl=None)
            pending = next(k.kid for k in issuer.keys("default") if k.state is KeyState.PENDING)
            issuer.revoke("default", pending, " ".join(PAYLOADS), actor="hostile")
        finally:
            issuer.close()
        self.server = ServerProcess(Deployment(url=url, env=env, admin=self.admin), tmp / "log")
        self.base = self.server.base

    def close(self) -> None:
        self.server.stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileSite]:
    s = HostileSite(tmp_path_factory.mktemp("console-hostile"))
    yield s
    s.close()


@pytest.fixture(scope="module")
def page(site: HostileSite) -> Iterator[Page]:
    with sync_playwright() as p:
        browser: Browser = p.chromium.launch(executable_path=CHROMIUM)
        context = browser.new_context()
        pg = context.new_page()
        pg.on("dialog", lambda dialog: DIALOGS.append(dialog.message))
        pg.on("response", lambda r: FAILED.append(f"{r.status} {r.url}") if r.status >= 400 else 0)
        pg.on("console", lambda m: FAILED.append(m.text) if m.type == "error" else 0)
        pg.goto(f"{site.base}/console/login")
        pg.fill("#token", site.admin)
        pg.click("#login")
        expect(pg).to_have_url(f"{site.base}/console/keysets")
        yield pg
        browser.close()


def _clean(page: Page, shown: str) -> None:
    """No injected element; ``shown`` is on the page as text."""
    assert page.locator("[id^=pwn]").count() == 0, page.url
    assert shown in page.inner_text("body"), page.url
    assert DIALOGS == []
    assert FAILED == []


def test_stored_values_are_text(site: HostileSite, page: Page) -> None:
    page.goto(f"{site.base}/console/keysets/default")
    _clean(page, PAYLOADS[0])
    page.goto(f"{site.base}/console/audit")
    for payload in PAYLOADS:
        _clean(page, payload)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_reflected_values_are_text(site: HostileSite, page: Page, payload: str) -> None:
    page.goto(f"{site.base}/console/audit?{urlencode({'actor': payload})}")
    assert page.locator("#f-actor").input_value() == payload
    assert page.locator("[id^=pwn]").count() == 0
    page.goto(f"{site.base}/console/audit?{urlencode({'action': payload})}")
    assert page.locator("#f-action").input_value() == payload
    assert page.locator("[id^=pwn]").count() == 0
    page.goto(f"{site.base}/console/keysets/default/revoke?{urlencode({'kid': payload})}")
    assert page.locator("[id^=pwn]").count() == 0


@pytest.mark.parametrize("payload", PAYLOADS)
def test_pasted_values_are_text(site: HostileSite, page: Page, payload: str) -> None:
    header = {"alg": "ES256", "kid": payload, payload: payload}
    token = f"{_b64(header)}.{_b64({'sub': payload, payload: 1})}.AAAA"
    page.goto(f"{site.base}/console/debugger")
    page.fill("#token", token)
    page.fill("#audience", payload)
    page.click("#debug")
    expect(page.locator("#verdict")).to_be_visible()
    _clean(page, payload)

    page.goto(f"{site.base}/console/lint")
    page.fill("#jwks", json.dumps({"keys": [{"kty": "EC", "kid": payload, payload: payload}]}))
    page.click("#lint")
    expect(page.locator("#lint-summary")).to_be_visible()
    _clean(page, payload)


def test_the_policy_forbids_inline_script(site: HostileSite) -> None:
    """Even markup that got through could not run: no inline script, no other origin."""
    r = httpx.get(f"{site.base}/console/login", timeout=30)
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
