"""``keywell`` as a real process: ``python -m keywell`` and the installed console script."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from keywell import JWK, __version__, jwt

SCRIPT = Path(sys.executable).with_name("keywell")
LINT_FIXTURES = Path(__file__).resolve().parent.parent / "lint" / "fixtures"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}
    env["PYTHONWARNINGS"] = "error"
    return env


def _run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), input=stdin, capture_output=True, text=True, env=_env(), timeout=60, check=False
    )


def test_python_m_keywell_version() -> None:
    result = _run(sys.executable, "-m", "keywell", "--version")
    assert (result.returncode, result.stdout) == (0, f"keywell {__version__}\n")
    help_text = _run(sys.executable, "-m", "keywell", "--help").stdout
    assert help_text.startswith("Usage: keywell ")


def test_script_generate_sign_decode_pipeline(tmp_path: Path) -> None:
    assert SCRIPT.is_file()
    priv, pub = tmp_path / "k.jwk", tmp_path / "k.pub.jwk"
    gen = _run(
        str(SCRIPT),
        "jwk",
        "generate",
        "--alg",
        "EdDSA",
        "--out",
        str(priv),
        "--public-out",
        str(pub),
    )
    assert gen.returncode == 0, gen.stderr
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    assert "\x1b[" not in gen.stdout  # a pipe gets plain text
    sign = _run(str(SCRIPT), "token", "sign", "--key", str(priv), "-c", "sub=bob", "--ttl", "30s")
    assert sign.returncode == 0, sign.stderr
    token = sign.stdout.strip()
    claims = jwt.decode(token, JWK.from_json(pub.read_text()), issuer=None, audience=None)
    assert (claims["sub"], claims["exp"] - claims["iat"]) == ("bob", 30)
    decoded = _run(sys.executable, "-m", "keywell", "token", "decode", "-", "--json", stdin=token)
    assert decoded.returncode == 0
    assert json.loads(decoded.stdout)["verified"] is False


def test_script_lint_exit_codes() -> None:
    bad = _run(str(SCRIPT), "jwks", "lint", str(LINT_FIXTURES / "private-members.json"))
    assert bad.returncode == 1
    assert "CRITICAL private-members" in bad.stdout
    ok = _run(str(SCRIPT), "jwks", "lint", str(LINT_FIXTURES / "missing-use.json"), "--json")
    assert ok.returncode == 0
    assert json.loads(ok.stdout)["ok"] is True
    usage = _run(str(SCRIPT), "jwks", "lint", "--no-such-option")
    assert usage.returncode == 2


def test_app_import_stays_light() -> None:
    """The app imports typer only: rich, httpx, x509 and the linter wait for their command."""
    code = (
        "import sys, keywell.cli.app; "
        "heavy = ('rich', 'httpx', 'keywell.lint', 'typer.rich_utils'); "
        "print([m for m in heavy if m in sys.modules])"
    )
    result = _run(sys.executable, "-c", code)
    assert result.stdout.strip() == "[]", result.stderr
