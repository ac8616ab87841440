"""A private or secret JWK anywhere in a document is critical, whatever the document's shape.

Issue 12 item 3: a bare array of JWKs, ``{"keys": {<JWK>}}`` and a set nested
under another member were reported only ``not-a-jwks``. The fixtures under
``fixtures/stray-secrets/`` (built by ``build_fixtures.py``) are the members of
the kind tried; their plain-text reports are golden like the others. The
hypothesis test puts a private JWK at a random place in random JSON.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from keywell import JWK
from keywell.cli.app import app
from keywell.lint import lint_document
from tests.lint.conftest import FIXTURES, GOLDEN

STRAY = FIXTURES / "stray-secrets"
NAMES = sorted(p.stem for p in STRAY.glob("*.json"))
UPDATE = os.environ.get("KEYWELL_UPDATE_GOLDEN") == "1"
LEAK = {"bare-array": "private-members", "symmetric-in-array": "symmetric-key"}
PRIVATE = JWK.generate("ES256", kid="p").to_dict(private=True)


def test_the_kind_has_its_members() -> None:
    assert {"bare-array", "keys-is-an-object", "nested-set", "deep", "beside-a-set"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_each_shape_reports_the_leak_critical_and_fails(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(STRAY)
    result = CliRunner().invoke(app, ["jwks", "lint", f"{name}.json", "--json"])
    report = json.loads(result.stdout)
    leaks = [f for f in report["findings"] if f["code"] == LEAK.get(name, "private-members")]
    assert leaks, report
    assert {f["severity"] for f in leaks} == {"critical"}
    assert result.exit_code == 1
    if name != "beside-a-set":  # that one is a set; its extra member leaks
        assert "not-a-jwks" in {f["code"] for f in report["findings"]}
    plain = CliRunner().invoke(app, ["jwks", "lint", f"{name}.json"]).stdout
    golden = GOLDEN / "stray-secrets" / f"{name}.txt"
    if UPDATE:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(plain)
        pytest.fail("golden rewritten: review the diff, then run again")
    assert plain == golden.read_text()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


def _plant(doc: Any, where: list[int]) -> Any:
    """``doc`` with the private JWK put inside it at a place ``where`` chooses."""
    if not where:
        return [doc, PRIVATE]
    if isinstance(doc, list) and doc:
        i = where[0] % len(doc)
        return [*doc[:i], _plant(doc[i], where[1:]), *doc[i + 1 :]]
    if isinstance(doc, dict) and doc:
        name = sorted(doc)[where[0] % len(doc)]
        return {**doc, name: _plant(doc[name], where[1:])}
    return {"wrapped": doc, "k": PRIVATE}


def test_a_jwk_inside_a_set_entry_is_reported_and_the_entries_once() -> None:
    public = {k: v for k, v in PRIVATE.items() if k != "d"}
    report = lint_document({"keys": [PRIVATE, {**public, "backup": PRIVATE}, [PRIVATE]]})
    leaks = [f for f in report.findings if f.code == "private-members"]
    assert sorted(f.message.split(":")[0] for f in leaks) == [
        "the key holds private members (d)",  # the entry itself, by lint_key
        "the object at $.keys[1].backup",
        "the object at $.keys[2][0]",
    ]


@given(
    json_values | st.fixed_dictionaries({"keys": st.lists(json_values, max_size=3)}),
    st.lists(st.integers(min_value=0), max_size=4),
)
def test_a_private_jwk_planted_anywhere_is_critical(doc: Any, where: list[int]) -> None:
    report = lint_document(_plant(doc, where))
    assert any(
        f.code == "private-members" and f.severity.value == "critical" for f in report.findings
    )
    assert report.failed
