"""``--allow-weak-rsa`` on the CLI commands that load key sets (issue 12 item 6's advice).

A token signed by an RSA-1024 key (a legacy Keycloak realm): without the
option ``token verify`` exits 1 with ``KW_KEY_SKIPPED`` naming the option;
with it the token verifies and a note says the weak key was accepted. The
same for a JWKS file, a single JWK and a PEM file, and for ``jwks fetch``
(the key is listed as skipped, or as usable with the option). ``jwks lint``
loads weak keys by design (to report them) and needs no option.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tests.cli.conftest import run
from tests.client.jwks_server import JWKSServer
from tests.client.test_skipped_only import ISS, _weak, _weak_jwks, _weak_token


@pytest.fixture
def server() -> Iterator[JWKSServer]:
    srv = JWKSServer()
    srv.set(jwks=_weak_jwks())
    yield srv
    srv.stop()


def _sources(server: JWKSServer, tmp_path: Path) -> dict[str, str]:
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(_weak_jwks()))
    jwk_file = tmp_path / "key.json"
    jwk_file.write_text(json.dumps(_weak_jwks()["keys"][0]))
    pem_file = tmp_path / "key.pem"
    pem_file.write_bytes(
        _weak()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return {"url": server.url(), "jwks": str(jwks_file), "jwk": str(jwk_file), "pem": str(pem_file)}


@pytest.mark.parametrize("source", ["url", "jwks", "jwk", "pem"])
def test_token_verify_allow_weak_rsa(server: JWKSServer, tmp_path: Path, source: str) -> None:
    where = _sources(server, tmp_path)[source]
    args = ["token", "verify", _weak_token(), "--jwks", where, "--audience", "api", "--iss", ISS]
    refused = run([*args, "--json"])
    error = json.loads(refused.stdout)["error"]
    if source in ("url", "jwks"):  # a set skips the key; the token naming it says why
        assert (refused.exit_code, error["code"]) == (1, "KW_KEY_SKIPPED")
        assert "allow_weak_rsa" in error["message"]
    else:  # a key file that does not load is a usage error
        assert (refused.exit_code, error["code"]) == (2, "KW_INVALID_KEY")
    assert "2048" in error["message"]
    accepted = run([*args, "--allow-weak-rsa", "--json"])
    assert accepted.exit_code == 0, accepted.output
    out = json.loads(accepted.stdout)
    assert (out["verified"], out["claims"]["sub"], out["weak_rsa_accepted"]) == (True, "u", True)
    text = run([*args, "--allow-weak-rsa"])
    assert text.exit_code == 0
    assert "under 2048 bits" in text.stdout
    assert "(--allow-weak-rsa)" in text.stdout


def test_jwks_fetch_allow_weak_rsa(server: JWKSServer) -> None:
    plain = run(["jwks", "fetch", server.url(), "--json"])
    assert plain.exit_code == 0, plain.output
    doc = json.loads(plain.stdout)
    assert doc["keys"] == []
    assert [s["kid"] for s in doc["skipped"]] == ["legacy"]
    assert "1024" in doc["skipped"][0]["reason"]
    allowed = run(["jwks", "fetch", server.url(), "--allow-weak-rsa", "--json"])
    assert allowed.exit_code == 0, allowed.output
    doc = json.loads(allowed.stdout)
    assert [(k["kid"], k["usable"]) for k in doc["keys"]] == [("legacy", True)]
    assert doc["skipped"] == []


def test_jwks_lint_reports_weak_rsa_without_an_option(tmp_path: Path, server: JWKSServer) -> None:
    path = _sources(server, tmp_path)["jwks"]
    report = run(["jwks", "lint", path, "--json"])
    assert report.exit_code == 1  # a high finding
    assert "weak" in report.stdout.lower()
