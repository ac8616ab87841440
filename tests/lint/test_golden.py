"""Golden outputs of ``keywell jwks lint`` on fixtures built one per finding.

Each fixture is named for the finding it was built to show; its report must
hold that finding, its plain-text rendering must match the golden file, and
the exit code must be 1 exactly when a finding is high or critical. Rebuild the
goldens with ``KEYWELL_UPDATE_GOLDEN=1 .venv/bin/pytest tests/lint/test_golden.py``.
"""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from keywell.cli.app import app
from tests.lint.conftest import FIXTURES, GOLDEN

NAMES = sorted(p.stem for p in FIXTURES.glob("*.json"))
FINDINGS = [n for n in NAMES if n != "clean"]
UPDATE = os.environ.get("KEYWELL_UPDATE_GOLDEN") == "1"
FAILING = {"critical", "high"}


def _lint(name: str, monkeypatch: pytest.MonkeyPatch, *extra: str) -> tuple[int, str]:
    monkeypatch.chdir(FIXTURES)
    result = CliRunner().invoke(app, ["jwks", "lint", f"{name}.json", *extra])
    return result.exit_code, result.stdout


def test_there_is_a_fixture_for_every_finding_of_the_issue() -> None:
    required = {
        "private-members",
        "symmetric-key",
        "weak-rsa",
        "alg-mismatch",
        "duplicate-kid",
        "x5c-key-mismatch",
        "x5t-mismatch",
        "x5t-s256-mismatch",
        "missing-kid",
        "missing-alg",
        "missing-use",
        "non-canonical",
        "x5c-expired",
        "enc-key-in-signing-set",
        "unknown-member",
        "alg-none",  # issue 12 item 12
        "use-alg-conflict",
        "repeated-key",  # issue 10 kind B: identical entries are one key
    }
    assert required <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_golden_text(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _code, out = _lint(name, monkeypatch)
    golden = GOLDEN / f"{name}.txt"
    if UPDATE:
        golden.write_text(out)
        pytest.fail(
            "golden rewritten: review the diff, then run again without KEYWELL_UPDATE_GOLDEN"
        )
    assert out == golden.read_text()
    assert "\x1b[" not in out  # plain text in a pipe


@pytest.mark.parametrize("name", FINDINGS)
def test_fixture_shows_its_finding(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = _lint(name, monkeypatch, "--json")
    report = json.loads(out)
    codes = {f["code"] for f in report["findings"]}
    assert name in codes
    severities = {f["severity"] for f in report["findings"]}
    assert report["ok"] is not bool(severities & FAILING)
    assert code == (1 if severities & FAILING else 0)


def test_single_private_jwk_is_not_a_set_and_leaks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 12 item 12: a single private JWK says both what it is and what it leaks."""
    code, out = _lint("not-a-jwks", monkeypatch, "--json")
    report = json.loads(out)
    assert {f["code"] for f in report["findings"]} == {"not-a-jwks", "private-members"}
    assert code == 1


def test_clean_set_has_no_findings(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = _lint("clean", monkeypatch, "--json")
    report = json.loads(out)
    assert (code, report["ok"], report["keys"], report["findings"]) == (0, True, 2, [])


@pytest.mark.parametrize(
    ("name", "severity"),
    [
        ("private-members", "critical"),
        ("symmetric-key", "critical"),
        ("weak-rsa", "high"),
        ("alg-mismatch", "high"),
        ("duplicate-kid", "high"),
        ("x5c-key-mismatch", "high"),
        ("x5t-mismatch", "high"),
        ("x5t-s256-mismatch", "high"),
        ("missing-kid", "medium"),
        ("missing-alg", "info"),
        ("missing-use", "info"),
        ("non-canonical", "medium"),
        ("x5c-expired", "medium"),
        ("enc-key-in-signing-set", "medium"),
        ("unknown-member", "info"),
        ("alg-none", "high"),
        ("use-alg-conflict", "high"),
        ("repeated-key", "info"),
    ],
)
def test_severity_of_each_finding(
    name: str, severity: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, out = _lint(name, monkeypatch, "--json")
    found = {f["severity"] for f in json.loads(out)["findings"] if f["code"] == name}
    assert found == {severity}
