"""Issue 10 Kind B: duplicate kids are judged per token, by one rule, everywhere a kid selects keys.

Each row is a JWK Set whose entries share the kid ``k`` and a token signed by
one of them; the same outcome must come from a static :class:`JWKSet`, a
:class:`RemoteJWKSet` over a real loopback server, :class:`MultiIssuerVerifier`
and ``keywell token verify --jwks FILE``; the linter's finding follows the
same rule (``duplicate-kid`` exactly when some token would be ambiguous).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from keywell import JWK, JWKSet, KeywellError, NoMatchingKeyError, SkippedKeyError, Verifier
from keywell.client import MultiIssuerVerifier, RemoteJWKSet
from keywell.jose._compact import compact
from keywell.jose.base64url import b64url_encode, int_to_b64
from keywell.lint import lint_document
from tests.cli.conftest import run
from tests.client.jwks_server import JWKSServer

ISS = "https://issuer.example"
AUD = "api"
NOW = 1_900_000_000
CLAIMS = {"iss": ISS, "aud": AUD, "sub": "u", "exp": NOW + 300}


@cache
def _weak() -> rsa.RSAPrivateKey:
    """An RSA-1024 key, as a legacy Keycloak realm signs with."""
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 -- the weak key is the point


@cache
def _key(name: str) -> JWK:
    """Signing keys by name (kid ``k``): a, b on P-256, p on P-384, r and s RSA-2048."""
    alg = {"a": "ES256", "b": "ES256", "p": "ES384", "r": "RS256", "s": "RS256"}[name]
    return JWK.generate(alg, kid="k")


def pub(name: str, **meta: Any) -> dict[str, Any]:
    """The public members of a named key, with ``meta`` overriding (None drops a member)."""
    if name == "r1024":
        numbers = _weak().public_key().public_numbers()
        base = {"kty": "RSA", "n": int_to_b64(numbers.n), "e": int_to_b64(numbers.e)}
    else:
        base = _key(name).public().to_dict()
    members = {**base, "kid": "k", **meta}
    return {k: v for k, v in members.items() if v is not None}


def _token(name: str, alg: str, kid: str | None = "k") -> str:
    header: dict[str, Any] = {"alg": alg} if kid is None else {"alg": alg, "kid": kid}
    _, signer = _key(name).signer(alg) if name != "r1024" else _weak_signer()
    return compact(b64url_encode(json.dumps(header).encode()), json.dumps(CLAIMS).encode(), signer)


def _weak_signer() -> tuple[str, Any]:
    return "RS256", lambda data: _weak().sign(data, padding.PKCS1v15(), hashes.SHA256())


OK = None
# name: (entries, signer, alg, token kid, outcome, lint finding for the kid or None)
ROWS: dict[str, tuple[list[dict[str, Any]], str, str, str | None, Any, str | None]] = {
    "identical-entries": ([pub("a"), pub("a")], "a", "ES256", "k", OK, "repeated-key"),
    "identical-material-other-metadata": (
        [pub("a", alg="ES256", use="sig"), pub("a", alg=None, use=None)],
        "a",
        "ES256",
        "k",
        OK,
        "repeated-key",
    ),
    "same-kid-other-kty-ec-token": ([pub("a"), pub("r")], "a", "ES256", "k", OK, None),
    "same-kid-other-kty-rsa-token": ([pub("a"), pub("r")], "r", "RS256", "k", OK, None),
    "same-kid-other-curve": (
        [pub("a", alg=None), pub("p", alg=None)],
        "p",
        "ES384",
        "k",
        OK,
        None,
    ),
    "same-kid-other-alg": (
        [pub("r", alg="RS256"), pub("s", alg="PS256")],
        "r",
        "RS256",
        "k",
        OK,
        None,
    ),
    "same-kid-two-keys-no-alg": (
        [pub("a", alg=None), pub("b", alg=None)],
        "a",
        "ES256",
        "k",
        NoMatchingKeyError,
        "duplicate-kid",
    ),
    "same-kid-two-keys-same-alg": (
        [pub("a"), pub("b")],
        "a",
        "ES256",
        "k",
        NoMatchingKeyError,
        "duplicate-kid",
    ),
    "one-is-use-enc": ([pub("a"), pub("b", alg=None, use="enc")], "a", "ES256", "k", OK, None),
    "one-has-key-ops-without-verify": (
        [pub("a"), pub("b", use=None, key_ops=["sign"])],
        "a",
        "ES256",
        "k",
        OK,
        None,
    ),
    "both-verify-by-use-and-key-ops": (
        [pub("a", use="sig"), pub("b", use=None, key_ops=["verify"])],
        "b",
        "ES256",
        "k",
        NoMatchingKeyError,
        "duplicate-kid",
    ),
    "kid-less-identical": (
        [pub("a", kid=None), pub("a", kid=None)],
        "a",
        "ES256",
        None,
        OK,
        None,
    ),
    "skipped-weak-rsa-other-kty": ([pub("a"), pub("r1024")], "a", "ES256", "k", OK, None),
    "skipped-weak-rsa-named": (
        [pub("a"), pub("r1024")],
        "r1024",
        "RS256",
        "k",
        SkippedKeyError,
        None,
    ),
    "skipped-invalid-same-alg": (
        [pub("a"), {**pub("b"), "y": pub("b")["x"]}],
        "a",
        "ES256",
        "k",
        NoMatchingKeyError,
        "duplicate-kid",
    ),
}


def _check(call: Any, outcome: Any) -> None:
    if outcome is OK:
        assert call()["sub"] == "u"
        return
    with pytest.raises(KeywellError) as info:
        call()
    assert type(info.value) is outcome, f"{type(info.value).__name__}: {info.value}"


@pytest.fixture(scope="module")
def server() -> Iterator[JWKSServer]:
    srv = JWKSServer()
    yield srv
    srv.stop()


@pytest.mark.parametrize("row", sorted(ROWS))
def test_static_set(row: str) -> None:
    entries, signer, alg, kid, outcome, _ = ROWS[row]
    keys = JWKSet.from_dict({"keys": entries})
    verifier = Verifier(keys, issuer=ISS, audience=AUD, clock=lambda: NOW)
    _check(lambda: verifier.verify(_token(signer, alg, kid)), outcome)


@pytest.mark.parametrize("row", sorted(ROWS))
def test_remote_set(row: str, server: JWKSServer) -> None:
    entries, signer, alg, kid, outcome, _ = ROWS[row]
    server.set(jwks={"keys": entries})
    with RemoteJWKSet(server.url(), timeout=2.0) as remote:
        verifier = Verifier(remote, issuer=ISS, audience=AUD, clock=lambda: NOW)
        _check(lambda: verifier.verify(_token(signer, alg, kid)), outcome)


@pytest.mark.parametrize("row", sorted(ROWS))
def test_multi_issuer(row: str) -> None:
    entries, signer, alg, kid, outcome, _ = ROWS[row]
    multi = MultiIssuerVerifier(
        {ISS: JWKSet.from_dict({"keys": entries})}, audience=AUD, clock=lambda: NOW
    )
    _check(lambda: multi.verify(_token(signer, alg, kid)), outcome)


@pytest.mark.parametrize("row", sorted(ROWS))
def test_lint_finding(row: str) -> None:
    entries, *_, finding = ROWS[row]
    codes = lint_document({"keys": entries}).codes
    kid_codes = codes & {"duplicate-kid", "repeated-key"}
    assert kid_codes == ({finding} if finding else set())


@pytest.mark.parametrize("row", sorted(ROWS))
def test_cli(row: str, tmp_path: Path) -> None:
    entries, signer, alg, kid, outcome, _ = ROWS[row]
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": entries}))
    token = _token(signer, alg, kid)
    args = ["token", "verify", token, "--jwks", str(tmp_path / "jwks.json")]
    result = run([*args, "--audience", AUD, "--iss", ISS, "--json"])
    if outcome is OK:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 1, result.output
    assert outcome.code in result.output


def test_the_wycheproof_duplicate_kid_outcome_is_kept() -> None:
    """Two different keys of one type under one kid, no alg: every token for the kid is refused."""
    keys = JWKSet.from_dict({"keys": [pub("a", alg=None), pub("b", alg=None)]})
    verifier = Verifier(keys, issuer=ISS, audience=AUD, clock=lambda: NOW)
    for signer in ("a", "b"):
        with pytest.raises(NoMatchingKeyError, match="ambiguous"):
            verifier.verify(_token(signer, "ES256"))


def test_skipped_key_error_says_why() -> None:
    """Issue 12 item 6: the kid of a skipped RSA-1024 key is not reported as unknown."""
    keys = JWKSet.from_dict({"keys": [pub("r1024")]})
    with pytest.raises(SkippedKeyError) as info:
        keys.candidates("k", "RS256")
    error = info.value
    assert (error.kid, error.skipped_code, error.code) == ("k", "KW_INVALID_KEY", "KW_KEY_SKIPPED")
    assert "1024 bits" in error.message
    assert "allow_weak_rsa=True" in error.message
    assert isinstance(error, NoMatchingKeyError)  # integrations still answer "key unknown"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        legacy = JWKSet.from_dict({"keys": [pub("r1024")]}, allow_weak_rsa=True)
    verifier = Verifier(legacy, issuer=ISS, audience=AUD, clock=lambda: NOW)
    assert verifier.verify(_token("r1024", "RS256"))["sub"] == "u"
