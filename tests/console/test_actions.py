"""Console actions: rotate, emergency rotate, policy, revoke; CSRF, origin and scope refusals."""

from __future__ import annotations

import json

import httpx
import pytest

from keywell.issuer import Issuer
from keywell.lifecycle import KeyState
from keywell.server import KeywellServer
from keywell.server.console.views import POLICY_FIELDS
from tests.console.conftest import BASE, login

pytestmark = pytest.mark.anyio


def _kids(body: bytes) -> set[str]:
    return {k["kid"] for k in json.loads(body)["keys"]}


def _active(issuer: Issuer, name: str = "default") -> str:
    return next(k.kid for k in issuer.keys(name) if k.state is KeyState.ACTIVE)


def _pending(issuer: Issuer, name: str = "default") -> str:
    return next(k.kid for k in issuer.keys(name) if k.state is KeyState.PENDING)


def _actions(issuer: Issuer) -> list[tuple[str, dict[str, str], str]]:
    """Every state-changing console request: (path, form without csrf, scope it needs)."""
    active = _active(issuer)
    return [
        ("/console/keysets/default/rotate", {}, "rotate"),
        ("/console/keysets/default/rotate", {"emergency": "1"}, "rotate"),
        (
            "/console/keysets/default/policy",
            {
                "rotation_period": "1h",
                "prepublish": "",
                "max_token_ttl": "5m",
                "jwks_max_age": "1m",
                "clock_skew": "30s",
            },
            "admin",
        ),
        (
            "/console/keysets/default/revoke",
            {"kid": active, "confirm": active, "reason": "test"},
            "revoke",
        ),
    ]


async def test_planned_rotation_waits_for_the_prepublish(
    anon: httpx.AsyncClient, issuer: Issuer, tokens: dict[str, str]
) -> None:
    csrf = await login(anon, issuer.create_admin_token(["read", "rotate"]))
    before = _active(issuer)
    r = await anon.post("/console/keysets/default/rotate", data={"csrf": csrf})
    assert r.status_code == 303
    page = await anon.get("/console/keysets/default")
    assert "not rotated: a planned rotation is possible at" in page.text
    assert _active(issuer) == before


async def test_emergency_rotation_shows_in_the_published_jwks(
    anon: httpx.AsyncClient, issuer: Issuer, tokens: dict[str, str]
) -> None:
    csrf = await login(anon, tokens["admin"])
    old_jwks = await anon.get("/.well-known/jwks.json")
    pending = _pending(issuer)
    r = await anon.post("/console/keysets/default/rotate", data={"csrf": csrf, "emergency": "1"})
    assert r.status_code == 303
    assert _active(issuer) == pending
    jwks = await anon.get("/.well-known/jwks.json")
    new = _kids(jwks.content) - _kids(old_jwks.content)
    assert new == {_pending(issuer)}
    page = await anon.get("/console/keysets/default")
    assert f"emergency rotation done: {pending} signs now" in page.text
    # the page shows the very bytes and headers the fast path serves
    assert json.dumps(json.loads(jwks.content), separators=(",", ":")) in page.text.replace(
        "&quot;", '"'
    )
    assert jwks.headers["etag"].replace('"', "&quot;") in page.text
    assert jwks.headers["cache-control"] in page.text


async def test_policy_from_the_console(
    anon: httpx.AsyncClient, issuer: Issuer, tokens: dict[str, str]
) -> None:
    csrf = await login(anon, tokens["admin"])
    before = _active(issuer)
    form = {
        "csrf": csrf,
        "rotation_period": "1h",
        "prepublish": "",
        "max_token_ttl": "5m",
        "jwks_max_age": "1m",
        "clock_skew": "0",
    }
    r = await anon.post("/console/keysets/default/policy", data=form)
    assert r.status_code == 303
    info = issuer.get_keyset("default")
    assert info.policy.rotation_period.total_seconds() == 3600
    assert info.policy.clock_skew.total_seconds() == 0
    assert _active(issuer) != before  # keys activated 3 h ago: the shorter period made it due


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("rotation_period", "", "rotation_period"),
        ("rotation_period", "soon", "rotation_period"),
        ("max_token_ttl", "0", "max_token_ttl"),
        ("jwks_max_age", "40d", "jwks_max_age"),
        ("prepublish", "60d", "prepublish"),
        ("clock_skew", "-1", "clock_skew"),
        ("rotation_period", "11y", "rotation_period"),
    ],
)
async def test_bad_policies_are_refused(
    anon: httpx.AsyncClient,
    issuer: Issuer,
    tokens: dict[str, str],
    field: str,
    value: str,
    shown: str,
) -> None:
    csrf = await login(anon, tokens["admin"])
    form = {
        "csrf": csrf,
        "rotation_period": "30d",
        "prepublish": "",
        "max_token_ttl": "1h",
        "jwks_max_age": "1h",
        "clock_skew": "1m",
        field: value,
    }
    version = issuer.get_keyset("default").version
    r = await anon.post("/console/keysets/default/policy", data=form)
    assert r.status_code == 422
    assert "KW_POLICY_INVALID" in r.text
    assert shown in r.text
    assert issuer.get_keyset("default").version == version


async def test_revoke_needs_the_kid_typed_back(
    anon: httpx.AsyncClient, issuer: Issuer, tokens: dict[str, str]
) -> None:
    csrf = await login(anon, tokens["admin"])
    active, pending = _active(issuer), _pending(issuer)
    confirm = await anon.get(f"/console/keysets/default/revoke?kid={active}")
    assert f"The pending key <code>{pending}</code> takes over signing at once" in confirm.text
    r = await anon.post(
        "/console/keysets/default/revoke",
        data={"csrf": csrf, "kid": active, "confirm": active[:-1], "reason": "oops"},
    )
    assert r.status_code == 303
    assert _active(issuer) == active
    r = await anon.post(
        "/console/keysets/default/revoke",
        data={
            "csrf": csrf,
            "kid": active,
            "confirm": active,
            "reason": "<script>alert(1)</script>",
        },
    )
    assert r.status_code == 303
    assert _active(issuer) == pending
    jwks = await anon.get("/.well-known/jwks.json")
    assert active not in _kids(jwks.content)
    page = await anon.get("/console/keysets/default")
    assert f"revoked {active}" in page.text
    audit = await anon.get("/console/audit?keyset=default&action=revoke")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in audit.text
    assert "<script>alert" not in audit.text


async def test_revoke_with_a_bad_reason_is_a_typed_refusal(
    anon: httpx.AsyncClient, issuer: Issuer, tokens: dict[str, str]
) -> None:
    csrf = await login(anon, tokens["admin"])
    active = _active(issuer)
    for reason in ("", "a\x00b", "x" * 5000):
        r = await anon.post(
            "/console/keysets/default/revoke",
            data={"csrf": csrf, "kid": active, "confirm": active, "reason": reason},
        )
        assert r.status_code == 422, reason
        assert "KW_INVALID_INPUT" in r.text
    assert _active(issuer) == active


async def test_unknown_names_and_kids(anon: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    csrf = await login(anon, tokens["admin"])
    for path in (
        "/console/keysets/nope",
        "/console/keysets/bad%20name",
        "/console/keysets/nope/live",
    ):
        r = await anon.get(path)
        assert r.status_code == 404, path
        assert "KW_KEYSET_NOT_FOUND" in r.text
    r = await anon.post(
        "/console/keysets/default/revoke",
        data={"csrf": csrf, "kid": "nokid", "confirm": "nokid", "reason": "x"},
    )
    assert r.status_code == 404
    assert "KW_KEY_NOT_FOUND" in r.text


async def test_every_action_refuses_without_csrf_origin_or_scope(
    server: KeywellServer, anon: httpx.AsyncClient, issuer: Issuer, tokens: dict[str, str]
) -> None:
    transport = httpx.ASGITransport(app=server)
    for path, form, scope in _actions(issuer):
        version = issuer.get_keyset("default").version
        async with httpx.AsyncClient(
            transport=transport, base_url=BASE, headers={"Origin": BASE}
        ) as c:
            csrf = await login(c, tokens["admin"])
            other = ("y" if csrf[0] == "x" else "x") + csrf[1:]  # differs in its first character
            for sent, code in ((None, "KW_CSRF"), ("", "KW_CSRF"), (other, "KW_CSRF")):
                data = dict(form) if sent is None else {**form, "csrf": sent}
                r = await c.post(path, data=data)
                assert (r.status_code, code in r.text) == (403, True), (path, sent)
            for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
                r = await c.post(path, data={**form, "csrf": csrf}, headers=headers)
                assert r.status_code == 403, (path, headers)
                assert "KW_CROSS_ORIGIN" in r.text
            r = await c.post(
                path,
                content=json.dumps({**form, "csrf": csrf}),
                headers={"Content-Type": "application/json"},
            )
            assert r.status_code == 415, path
        others = [s for s in ("read", "sign", "rotate", "revoke") if s != scope]
        for other in others:
            if other == "sign":
                continue  # cannot log in: no read scope
            async with httpx.AsyncClient(
                transport=transport, base_url=BASE, headers={"Origin": BASE}
            ) as c:
                csrf = await login(
                    c,
                    tokens[other]
                    if other == "read"
                    else issuer.create_admin_token(["read", other]),
                )
                r = await c.post(path, data={**form, "csrf": csrf})
                assert r.status_code == 403, (path, other)
                assert "KW_FORBIDDEN" in r.text
                assert f"lacks the &#x27;{scope}&#x27; scope" in r.text
        assert issuer.get_keyset("default").version == version, path


_HOSTILE_VALUES = ["", "\x00", "é" * 3, "a" * 20_000, "%ZZ", "../../etc", "-1", "1e309", "<x>", " "]


async def test_hostile_forms_never_give_a_500(
    anon: httpx.AsyncClient, issuer: Issuer, tokens: dict[str, str]
) -> None:
    """Every field of every console form, set to each hostile value: a typed answer, never 500."""
    csrf = await login(anon, tokens["admin"])
    forms = {
        "/console/keysets/default/rotate": ["emergency"],
        "/console/keysets/default/policy": [f for f, _, _ in POLICY_FIELDS],
        "/console/keysets/default/revoke": ["kid", "confirm", "reason"],
        "/console/debugger": ["token", "keyset", "audience"],
        "/console/lint": ["jwks"],
        "/console/login": ["token"],
    }
    for path, fields in forms.items():
        for field in fields:
            for value in _HOSTILE_VALUES:
                r = await anon.post(path, data={"csrf": csrf, field: value})
                assert r.status_code < 500, (path, field, value[:20], r.text[:300])
        for raw, kind in (
            (b"\xff\xfe=\xff", "application/x-www-form-urlencoded"),
            (b"&".join(b"f%d=1" % i for i in range(100)), "application/x-www-form-urlencoded"),
            (b"x" * 70_000, "application/x-www-form-urlencoded"),
            (b"csrf=" + csrf.encode(), "multipart/form-data; boundary=x"),
        ):
            r = await anon.post(path, content=raw, headers={"Content-Type": kind})
            allowed = {400, 403, 413, 415} | ({401, 429} if path.endswith("login") else set())
            assert r.status_code in allowed, (path, kind, r.status_code)
    for query in ("version=%00", "version=" + "9" * 5000, "kid=%FF"):
        r = await anon.get(f"/console/keysets/default/live?{query}")
        assert r.status_code < 500
        r = await anon.get(f"/console/keysets/default/revoke?{query}")
        assert r.status_code < 500
