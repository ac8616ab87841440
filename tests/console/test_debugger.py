"""The token debugger: the library's verdict and code for every kind of token, nothing kept.

Each token kind is pasted into the console and the code it shows is compared
with what :class:`keywell.Verifier` raises for the same token against the same
published JWK Set (the bytes ``/.well-known/jwks.json`` serves).
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Iterator
from html import unescape

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keywell.errors import KeywellError
from keywell.issuer import Issuer
from keywell.jose.jwk import JWK
from keywell.jose.jwkset import JWKSet
from keywell.jose.jws import sign as jws_sign
from keywell.jose.verifier import Verifier
from keywell.lifecycle import KeyState
from keywell.server.console import tools
from keywell.server.published import Registry
from tests.console.conftest import BASE, ISSUER, login

pytestmark = pytest.mark.anyio


def _b64(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def _library_code(issuer: Issuer, name: str, token: str, audience: str | None = None) -> str:
    """What keywell's own verifier says about ``token`` against the set's published JWKS."""
    info = issuer.get_keyset(name)
    verifier = Verifier(
        JWKSet.from_json(issuer.jwks(name).body),
        issuer=info.issuer,
        audience=audience,
        leeway=info.policy.clock_skew.total_seconds(),
    )
    try:
        verifier.verify(token)
    except KeywellError as exc:
        return exc.code
    return "valid"


Maker = Callable[[Issuer, Issuer], tuple[str, str]]


def _good(now: Issuer, past: Issuer) -> tuple[str, str]:
    return now.sign("default", {"sub": "alice"}), "default"


def _expired(now: Issuer, past: Issuer) -> tuple[str, str]:
    return past.sign("default", {"sub": "alice"}, ttl=3600), "default"


def _tampered_payload(now: Issuer, past: Issuer) -> tuple[str, str]:
    h, _, s = now.sign("default", {"sub": "alice"}).split(".")
    return (
        f"{h}.{_b64({'sub': 'mallory', 'iss': ISSUER, 'exp': int(time.time()) + 600})}.{s}",
        "default",
    )


def _tampered_signature(now: Issuer, past: Issuer) -> tuple[str, str]:
    token = now.sign("default", {"sub": "alice"})
    flipped = "A" if token[-5] != "A" else "B"
    return token[:-5] + flipped + token[-4:], "default"


def _alg_none(now: Issuer, past: Issuer) -> tuple[str, str]:
    kid = next(k.kid for k in now.keys("default") if k.state is KeyState.ACTIVE)
    return f"{_b64({'alg': 'none', 'kid': kid})}.{_b64({'sub': 'x'})}.", "default"


def _alg_confusion(now: Issuer, past: Issuer) -> tuple[str, str]:
    kid = next(k.kid for k in now.keys("default") if k.state is KeyState.ACTIVE)
    return f"{_b64({'alg': 'HS256', 'kid': kid})}.{_b64({'sub': 'x'})}.c2ln", "default"


def _foreign_key(now: Issuer, past: Issuer) -> tuple[str, str]:
    key = JWK.generate("ES256", kid="stranger")
    payload = json.dumps({"iss": ISSUER, "exp": int(time.time()) + 600}).encode()
    return jws_sign(payload, key), "default"


def _other_set(now: Issuer, past: Issuer) -> tuple[str, str]:
    return now.sign("other", {"sub": "bob"}), "other"


def _garbage(now: Issuer, past: Issuer) -> tuple[str, str]:
    return "not a token", "default"


def _jwe(now: Issuer, past: Issuer) -> tuple[str, str]:
    return "a.b.c.d.e", "default"


def _too_large(now: Issuer, past: Issuer) -> tuple[str, str]:
    return "e" * 20_000 + ".x.y", "default"


def _bad_json(now: Issuer, past: Issuer) -> tuple[str, str]:
    return "eyJhbGciOiJFUzI1NiI.e30.AAAA", "default"


KINDS: dict[str, tuple[Maker, str]] = {
    "good": (_good, "valid"),
    "expired": (_expired, "KW_TOKEN_EXPIRED"),
    "tampered payload": (_tampered_payload, "KW_INVALID_SIGNATURE"),
    "tampered signature": (_tampered_signature, "KW_INVALID_SIGNATURE"),
    "alg none": (_alg_none, "KW_ALG_UNSUPPORTED"),
    "alg confusion": (_alg_confusion, "KW_ALG_DISALLOWED"),
    "foreign key": (_foreign_key, "KW_NO_MATCHING_KEY"),
    "other set": (_other_set, "valid"),
    "garbage": (_garbage, "KW_TOKEN_MALFORMED"),
    "JWE": (_jwe, "KW_TOKEN_MALFORMED"),
    "too large": (_too_large, "KW_TOKEN_TOO_LARGE"),
    "bad JSON": (_bad_json, "KW_TOKEN_MALFORMED"),
}


def _shown_code(html: str) -> str:
    if 'class="verdict ok"' in html:
        return "valid"
    found = re.search(r'id="verdict-code">([A-Z_]+)<', html)
    assert found is not None, html
    return found.group(1)


@pytest.mark.parametrize("kind", list(KINDS))
async def test_debugger_gives_the_library_verdict(
    anon: httpx.AsyncClient, issuer: Issuer, past_issuer: Issuer, tokens: dict[str, str], kind: str
) -> None:
    maker, expected = KINDS[kind]
    token, name = maker(issuer, past_issuer)
    library = _library_code(issuer, name, token)
    assert library == expected  # the kind is what it says
    csrf = await login(anon, tokens["read"])
    r = await anon.post("/console/debugger", data={"csrf": csrf, "token": token})
    assert r.status_code == 200
    assert _shown_code(r.text) == library
    assert token not in r.text  # shown decoded, never echoed
    if library in ("valid", "KW_TOKEN_EXPIRED"):
        assert f'id="verdict-keyset">{name}<' in r.text
        assert 'data-claim="exp"' in r.text
        assert " ago)" in r.text or "(in " in r.text  # times relative to now


async def test_debugger_names_a_revoked_key(
    anon: httpx.AsyncClient, issuer: Issuer, tokens: dict[str, str]
) -> None:
    token = issuer.sign("default", {"sub": "alice"})
    kid = next(k.kid for k in issuer.keys("default") if k.state is KeyState.ACTIVE)
    csrf = await login(anon, tokens["admin"])
    await anon.post(
        "/console/keysets/default/revoke",
        data={"csrf": csrf, "kid": kid, "confirm": kid, "reason": "leaked"},
    )
    r = await anon.post("/console/debugger", data={"csrf": csrf, "token": token})
    assert _shown_code(r.text) == _library_code(issuer, "default", token) == "KW_NO_MATCHING_KEY"
    assert f"{kid} (revoked)" in unescape(r.text)


async def test_debugger_checks_the_audience_when_given(
    anon: httpx.AsyncClient, issuer: Issuer, tokens: dict[str, str]
) -> None:
    token = issuer.sign("default", {"sub": "alice", "aud": "api"})
    csrf = await login(anon, tokens["read"])
    for audience, expected in (("api", "valid"), ("other", None)):
        r = await anon.post(
            "/console/debugger", data={"csrf": csrf, "token": token, "audience": audience}
        )
        library = _library_code(issuer, "default", token, audience)
        assert _shown_code(r.text) == library
        if expected:
            assert library == expected


async def test_debugger_with_a_chosen_set(
    anon: httpx.AsyncClient, issuer: Issuer, tokens: dict[str, str]
) -> None:
    token = issuer.sign("other", {"sub": "bob"})
    csrf = await login(anon, tokens["read"])
    r = await anon.post(
        "/console/debugger", data={"csrf": csrf, "token": token, "keyset": "default"}
    )
    assert _shown_code(r.text) == _library_code(issuer, "default", token) == "KW_NO_MATCHING_KEY"
    r = await anon.post("/console/debugger", data={"csrf": csrf, "token": token, "keyset": "nope"})
    assert r.status_code == 404


@pytest.fixture
def registry(issuer: Issuer) -> Iterator[Registry]:
    reg = Registry(base_url=BASE, default_keyset="default")
    reg.refresh(issuer, force=True)
    return reg


_TOKENISH = st.text(
    alphabet='abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789-_.=+/ {}"\x00é', max_size=200
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=_TOKENISH)
def test_any_paste_gets_the_library_code(issuer: Issuer, registry: Registry, text: str) -> None:
    verdict = tools.debug_token(
        text,
        registry.infos,
        registry.keys,
        registry.entries,
        keyset=None,
        default="default",
        audience=None,
        now=time.time(),
    )
    assert verdict.keyset == "default"
    assert (verdict.code or "valid") == _library_code(issuer, "default", text.strip())
