"""``keywell admin-token create``: the secret is printed once and works against the store."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keywell.cli.app import app
from keywell.issuer import Issuer
from keywell.jose.base64url import b64url_encode
from keywell.store import KEKRing


def test_created_token_has_exactly_its_scopes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = b64url_encode(secrets.token_bytes(32))
    monkeypatch.setenv("KEYWELL_KEK", secret)
    kek = KEKRing.from_env({"KEYWELL_KEK": secret})
    assert kek is not None
    url = f"sqlite:///{tmp_path / 'k.db'}"
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade", "--database", url]).exit_code == 0
    result = runner.invoke(
        app,
        [
            "admin-token",
            "create",
            "--scope",
            "read",
            "--scope",
            "sign",
            "--database",
            url,
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["scopes"] == ["read", "sign"]
    issuer = Issuer(url, keks=kek)
    try:
        assert issuer.check_admin_token(out["token"]) == frozenset({"read", "sign"})
        assert issuer.check_admin_token(out["token"] + "x") is None
    finally:
        issuer.close()


def test_unknown_scope_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["admin-token", "create", "--scope", "root", "--database", f"sqlite:///{tmp_path}/k.db"],
    )
    assert result.exit_code == 2
    assert "root" in result.output
