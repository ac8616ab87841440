"""``keywell admin-token create``: the secret is printed once and works against the store."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
    assert (out["id"], out["name"], out["revoked"], out["usable"]) == (1, "", False, True)
    lifetime = datetime.fromisoformat(out["expires_at"]) - datetime.fromisoformat(out["created_at"])
    assert lifetime == timedelta(days=90)  # the default --ttl
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


# -- list, revoke and expiry: the CLI on a real SQLite file ---------------------


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, KEKRing]:
    secret = b64url_encode(secrets.token_bytes(32))
    monkeypatch.setenv("KEYWELL_KEK", secret)
    for name in ("KEK_FILE", "KEKS", "KEK_ID", "DATABASE_URL"):
        monkeypatch.delenv(f"KEYWELL_{name}", raising=False)
    kek = KEKRing.from_env({"KEYWELL_KEK": secret})
    assert kek is not None
    url = f"sqlite:///{tmp_path / 'k.db'}"
    assert CliRunner().invoke(app, ["db", "upgrade", "--database", url]).exit_code == 0
    return url, kek


def _json(args: list[str]) -> tuple[int, Any]:
    result = CliRunner().invoke(app, [*args, "--json"])
    return result.exit_code, json.loads(result.stdout)


def test_create_with_ttl_list_and_revoke_by_id_and_name(store: tuple[str, KEKRing]) -> None:
    url, kek = store
    db = ["--database", url]
    made = [
        _json(["admin-token", "create", "--scope", "read", "--name", n, "--ttl", ttl, *db])[1]
        for n, ttl in (("ops", "1h"), ("ops", "90d"), ("ci", "30d"))
    ]
    code, listed = _json(["admin-token", "list", *db])
    assert code == 0
    assert [(t["name"], t["state"]) for t in listed] == [("ops", "valid")] * 2 + [("ci", "valid")]
    assert all("token" not in t for t in listed)  # never a secret
    for t in listed:
        lifetime = datetime.fromisoformat(t["expires_at"]) - datetime.fromisoformat(t["created_at"])
        assert lifetime in (timedelta(hours=1), timedelta(days=90), timedelta(days=30))
    ops_short = listed[0]["id"]
    assert _json(["admin-token", "revoke", str(ops_short), *db]) == (0, {"revoked": 1})
    assert _json(["admin-token", "revoke", str(ops_short), *db]) == (0, {"revoked": 0})
    code, unknown = _json(["admin-token", "revoke", "999", *db])
    assert (code, unknown["error"]["code"]) == (2, "KW_ADMIN_TOKEN_NOT_FOUND")
    assert _json(["admin-token", "revoke", "--name", "ops", *db]) == (0, {"revoked": 1})
    code, neither = _json(["admin-token", "revoke", *db])
    assert (code, neither["error"]["code"]) == (2, "usage")
    assert [t["name"] for t in _json(["admin-token", "list", *db])[1]] == ["ci"]
    every = _json(["admin-token", "list", "--all", *db])[1]
    assert [t["state"] for t in every] == ["revoked", "revoked", "valid"]
    issuer = Issuer(url, keks=kek)
    try:
        assert [issuer.check_admin_token(m["token"]) for m in made] == [
            None,
            None,
            frozenset({"read"}),
        ]
    finally:
        issuer.close()
    text = CliRunner().invoke(app, ["admin-token", "list", "--all", *db]).stdout
    assert text.splitlines()[0].split() == [
        "id", "name", "scopes", "fingerprint", "created", "expires", "state"
    ]  # fmt: skip


@pytest.mark.parametrize("ttl", ["0", "0s", "11y", "forever", "-1h", "3650d1s"])
def test_a_bad_ttl_is_a_usage_error(store: tuple[str, KEKRing], ttl: str) -> None:
    url, _ = store
    result = CliRunner().invoke(
        app, ["admin-token", "create", "--scope", "read", "--ttl", ttl, "--database", url]
    )
    assert result.exit_code == 2, result.output
    assert "--ttl" in result.output


def test_an_expired_token_is_listed_as_expired_and_authenticates_nothing(
    store: tuple[str, KEKRing],
) -> None:
    url, kek = store
    now = datetime.now(UTC)
    past = Issuer(url, keks=kek, clock=lambda: now - timedelta(days=2))
    try:
        old = past.create_admin_token(["admin"], name="old", ttl=timedelta(days=1))
        default = past.create_admin_token(["admin"], name="default")
    finally:
        past.close()
    issuer = Issuer(url, keks=kek)
    try:
        assert issuer.check_admin_token(old) is None
        assert issuer.check_admin_token(default) == frozenset({"admin"})
        info = issuer.admin_token_info(default)
        assert info is not None
        assert info.expires_at == now - timedelta(days=2) + timedelta(days=90)
    finally:
        issuer.close()
    assert [t["name"] for t in _json(["admin-token", "list", "--database", url])[1]] == ["default"]
    every = _json(["admin-token", "list", "--all", "--database", url])[1]
    assert [(t["name"], t["state"], t["usable"]) for t in every] == [
        ("old", "expired", False),
        ("default", "valid", True),
    ]


# -- names and scopes (issue 12) -------------------------------------------------

HOSTILE_NAMES = [
    ("line\n2026-11-30 INFO fake", "line\\n2026-11-30 INFO fake"),
    ("\x1b[2Jcleared", "\\x1b[2Jcleared"),
    ("evil\u202etxt.exe", "evil\\u202etxt.exe"),
    ("nul\x00", "nul\\x00"),
    ("bell\x07", "bell\\x07"),
    ("del\x7f", "del\\x7f"),
    ("c1\x9b31m", "c1\\x9b31m"),
    ("cr\roverwrite", "cr\\roverwrite"),
    ("[bold]markup[/]", "[bold]markup[/]"),
]


def test_list_escapes_every_control_character_of_a_stored_name(
    store: tuple[str, KEKRing],
) -> None:
    """Names stored before the name rule (or by another tool) are shown escaped, never raw."""
    import sqlite3

    url, _ = store
    db = ["--database", url]
    for _ in HOSTILE_NAMES:
        assert _json(["admin-token", "create", "--scope", "read", *db])[0] == 0
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        for token_id, (raw, _) in enumerate(HOSTILE_NAMES, start=1):
            conn.execute("UPDATE keywell_admin_tokens SET name = ? WHERE id = ?", (raw, token_id))
    result = CliRunner().invoke(app, ["admin-token", "list", *db])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1 + len(HOSTILE_NAMES)  # no name made a line of its own
    for line, (_, shown) in zip(lines[1:], HOSTILE_NAMES, strict=True):
        assert line.split("  ")[1].strip() == shown
    assert all(c.isprintable() for c in result.stdout.replace("\n", ""))


@pytest.mark.parametrize("name", [raw for raw, _ in HOSTILE_NAMES[:-1]] + ["x" * 201])
def test_create_refuses_a_name_that_is_not_printable(store: tuple[str, KEKRing], name: str) -> None:
    url, _ = store
    result = CliRunner().invoke(
        app, ["admin-token", "create", "--scope", "read", "--name", name, "--database", url]
    )
    assert result.exit_code == 2
    assert "error: --name: name is 0-200 printable characters" in result.output
    assert _json(["admin-token", "list", "--all", "--database", url]) == (0, [])


def test_every_server_scope_is_a_cli_scope(store: tuple[str, KEKRing]) -> None:
    from keywell.server.auth import SCOPES

    url, _ = store
    for scope in sorted(SCOPES):
        code, out = _json(["admin-token", "create", "--scope", scope, "--database", url])
        assert (code, out["scopes"]) == (0, [scope])
    bad = CliRunner().invoke(app, ["admin-token", "create", "--scope", "root", "--database", url])
    assert bad.exit_code == 2
    assert f"the scopes are {', '.join(sorted(SCOPES))}" in bad.output


def test_list_and_revoke_print_no_development_kek_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("KEK", "KEK_FILE", "KEKS", "KEK_ID", "DATABASE_URL"):
        monkeypatch.delenv(f"KEYWELL_{name}", raising=False)
    url = f"sqlite:///{tmp_path / 'k.db'}"
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade", "--database", url]).exit_code == 0
    import warnings

    from keywell.store.kek import DevelopmentKEKWarning

    with warnings.catch_warnings():  # create needs the KEK: its warning is right there
        warnings.simplefilter("ignore", DevelopmentKEKWarning)
        made = runner.invoke(app, ["admin-token", "create", "--scope", "read", "--database", url])
    assert made.exit_code == 0, made.output
    for args in (["list"], ["revoke", "1"]):
        result = runner.invoke(app, ["admin-token", *args, "--database", url])
        assert result.exit_code == 0, result.output
        assert "KEK" not in result.stderr
