"""``keyset`` options and outputs that agree: exit codes, --json and text, --kid, --admin-url."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from keywell.issuer import Issuer
from keywell.store.kek import KEKRing
from tests.cli.conftest import run
from tests.cli.test_keyset_cmds import ISS, cli, new_kek


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KEK", "KEKS", "KEK_FILE", "KEK_ID", "DATABASE_URL", "TOKEN", "ADMIN_URL"):
        monkeypatch.delenv(f"KEYWELL_{name}", raising=False)


@pytest.fixture
def env() -> dict[str, str]:
    return {"KEYWELL_KEK": new_kek(), "KEYWELL_KEK_ID": "old"}


@pytest.fixture
def db(tmp_path: Path, env: dict[str, str]) -> str:
    url = f"sqlite:///{tmp_path / 'kw.db'}"
    assert cli(["db", "upgrade", "--database", url], env)[0] == 0
    assert cli(["keyset", "create", "api", "--issuer", ISS, "--database", url], env)[0] == 0
    return url


def test_json_and_text_say_the_same_prepublish(db: str, env: dict[str, str]) -> None:
    for command in (["policy"], ["show"], ["list"]):
        args = ["keyset", *command] + ([] if command == ["list"] else ["api"]) + ["--database", db]
        code, out = cli(args, env)
        assert code == 0
        info = out[0] if command == ["list"] else out.get("keyset", out)
        assert info["policy"]["prepublish"] == 30 * 86400, command
        assert info["policy"]["prepublish_is_rotation_period"] is True
    text = run(["keyset", "policy", "api", "--database", db], env=env).stdout
    assert "prepublish:      30d (the rotation period)" in text
    shown = run(["keyset", "show", "api", "--database", db], env=env).stdout
    assert "rotate every 30d, prepublish 30d, tokens up to 1h" in shown


def test_a_rotation_that_rotates_nothing_exits_3_in_text_and_json(
    db: str, env: dict[str, str]
) -> None:
    text = run(["keyset", "rotate", "api", "--database", db], env=env)
    code, out = cli(["keyset", "rotate", "api", "--database", db], env)
    assert (text.exit_code, code) == (3, 3)
    assert out["performed"] is False
    assert out["next_possible_at"][:19] in text.stdout.replace("Z", "")
    assert "exits 3" in run(["keyset", "rotate", "--help"]).stdout
    assert "3 nothing done yet" in run(["--help"]).stdout


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("positional", 0),
        ("--kid", 0),
        ("--kid=", 0),
        ("both", 2),
        ("neither", 2),
    ],
)
def test_the_kid_is_positional_or_an_option(
    db: str, env: dict[str, str], how: str, expected: int
) -> None:
    _, shown = cli(["keyset", "show", "api", "--database", db], env)
    kid = next(k["kid"] for k in shown["keys"] if k["state"] == "pending")
    base = ["keyset", "revoke", "api", "--reason", "test", "--database", db]
    args = {
        "positional": [*base, "--", kid],
        "--kid": [*base, "--kid", kid],
        "--kid=": [*base, f"--kid={kid}"],
        "both": [*base, "--kid", kid, "--", kid],
        "neither": base,
    }[how]
    code, out = cli(args, env)
    assert code == expected, out
    if expected == 0:
        assert (out[0]["kid"], out[0]["new_state"]) == (kid, "revoked")


def test_a_kid_starting_with_a_dash_works_with_kid_option(db: str, env: dict[str, str]) -> None:
    code, out = cli(
        ["keyset", "revoke", "api", "--kid", "-nope", "--reason", "x", "--database", db], env
    )
    assert (code, out["error"]["code"]) == (2, "KW_KEY_NOT_FOUND")
    assert "-nope" in out["error"]["message"]


def test_server_is_a_hidden_deprecated_alias_of_admin_url() -> None:
    help_text = run(["keyset", "list", "--help"]).stdout
    assert "--admin-url URL" in help_text
    assert "--server" not in help_text
    old = run(["keyset", "list", "--server", "http://example.com", "--token", "x", "--json"])
    assert old.exit_code == 2
    assert "--server is deprecated for keyset commands: use --admin-url" in old.stderr
    assert "plain http" in json.loads(old.stdout)["error"]["message"] or "http" in old.stdout
    both = run(["keyset", "list", "--server", "https://a.test", "--admin-url", "https://b.test"])
    assert both.exit_code == 2


def test_the_development_kek_warning_is_one_line_in_words(tmp_path: Path) -> None:
    """Through every command path, including ``admin-token create`` (server code)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("KEYWELL_")}
    full_env["KEYWELL_DATABASE_URL"] = f"sqlite:///{tmp_path / 'dev.db'}"
    for args in (
        ["db", "upgrade"],
        ["keyset", "create", "api", "--issuer", ISS],
        ["admin-token", "create", "--scope", "read"],
        ["keyset", "list"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "keywell", *args],
            capture_output=True,
            text=True,
            env=full_env,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        if args[0] == "db":
            continue
        lines = done.stderr.splitlines()
        assert [line for line in lines if "DEVELOPMENT KEK" in line] == [
            f"warning: DEVELOPMENT KEK in use ({tmp_path / 'dev.db.kek'}): private keys are "
            "encrypted under a key stored beside the database. Set KEYWELL_KEK or "
            "KEYWELL_KEK_FILE in production."
        ], args
        assert "Warning" not in done.stderr  # no Python warnings line with a class and path
        assert ".py:" not in done.stderr


def test_a_policy_change_is_audited_in_the_options_syntax(db: str, env: dict[str, str]) -> None:
    args = ["keyset", "policy", "api", "--database", db, "--rotation-period", "14d"]
    code, _ = cli([*args, "--prepublish", "2d", "--max-token-ttl", "1h30m"], env)
    assert code == 0
    issuer = Issuer(db, keks=KEKRing.from_env(env))
    try:
        reasons = [e.reason for e in issuer.history("api") if e.action == "update_policy"]
    finally:
        issuer.close()
    assert reasons == [
        "rotation_period=14d prepublish=2d max_token_ttl=1h30m jwks_max_age=1h clock_skew=1m"
    ]
