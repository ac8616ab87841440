"""Suite-wide settings: corpora location and the CI rule that a skip is a failure."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPORA = ROOT.parent / "shared" / "corpora"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# `docs_server`: a real `keywell serve` for the docs pages and the examples.
pytest_plugins = ["tests.docs.server"]


@pytest.fixture(scope="session")
def corpora() -> Path:
    """The shared public test vectors (Wycheproof, RFC 7520 cookbook)."""
    if not CORPORA.is_dir():
        if IN_CI:
            pytest.fail(f"test corpora missing at {CORPORA}")
        pytest.skip(f"test corpora missing at {CORPORA}")
    return CORPORA


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI=true a skipped test fails the run: a skip must never hide a missing part."""
    if not IN_CI:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped:
        reporter.write_line(f"CI=true: {skipped} skipped test(s) count as failures", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
