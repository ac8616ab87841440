"""keywell.lint as a library: real keys, real certificates, arbitrary JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
from hypothesis import given, settings

from keywell import JWK
from keywell.lint import Finding, Report, Severity, lint_document, lint_json
from tests.lint.conftest import FIXTURES

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
MEMBER_NAMES = st.sampled_from(
    ["kty", "crv", "x", "y", "n", "e", "d", "k", "kid", "alg", "use", "key_ops", "x5c", "x5t"]
)
KEYISH = st.dictionaries(MEMBER_NAMES, JSON | st.sampled_from(["EC", "RSA", "oct", "OKP"]))


def test_cookbook_keys(corpora: Path) -> None:
    """RFC 7520 section 3 keys: public ones lint clean but for alg; secrets are critical."""
    folder = corpora / "cookbook" / "jwk"
    keys = [
        json.loads((folder / name).read_text()) for name in sorted(p.name for p in folder.iterdir())
    ]
    public = [k for k in keys if "d" not in k and k["kty"] != "oct"]
    report = lint_document({"keys": public})
    assert report.key_count == len(public) == 2
    assert {f.code for f in report.findings} <= {"missing-alg", "duplicate-kid"}
    whole = lint_document({"keys": keys})
    codes = [f.code for f in whole.findings]
    assert codes.count("private-members") == 2
    assert codes.count("symmetric-key") == 2
    assert whole.failed
    assert whole.findings[0].severity is Severity.CRITICAL


def test_expiry_is_judged_at_the_given_time() -> None:
    text = (FIXTURES / "x5c-not-yet-valid.json").read_bytes()
    assert "x5c-not-yet-valid" in lint_json(text).codes
    later = lint_json(text, now=datetime(2095, 1, 1, tzinfo=UTC))
    assert later.findings == ()
    much_later = lint_json(text, now=datetime(2100, 6, 1, tzinfo=UTC))
    assert much_later.codes == {"x5c-expired"}


def test_report_orders_and_counts() -> None:
    def f(sev: Severity, index: int | None) -> Finding:
        return Finding(severity=sev, code="c", message="m", advice="a", index=index)

    report = Report.build(
        source="s",
        key_count=3,
        findings=[
            f(Severity.INFO, 0),
            f(Severity.HIGH, 2),
            f(Severity.HIGH, None),
            f(Severity.CRITICAL, 1),
        ],
    )
    assert [(x.severity, x.index) for x in report.findings] == [
        (Severity.CRITICAL, 1),
        (Severity.HIGH, None),
        (Severity.HIGH, 2),
        (Severity.INFO, 0),
    ]
    assert report.counts() == {"critical": 1, "high": 2, "medium": 0, "info": 1}
    assert report.failed
    assert not Report.build(source="s", key_count=1, findings=[f(Severity.MEDIUM, 0)]).failed


def test_findings_never_carry_private_material() -> None:
    key = JWK.generate("ES256", kid="k").to_dict(private=True)
    secret = JWK.generate("HS256", kid="h").to_dict(private=True)
    rsa_private = JWK.generate("RS256", kid="r").to_dict(private=True)
    broken = {**rsa_private, "d": rsa_private["p"]}  # private members that do not match
    report = lint_document({"keys": [key, secret, rsa_private, broken]})
    text = json.dumps(report.to_dict())
    for value in (key["d"], secret["k"], rsa_private["d"], rsa_private["p"], rsa_private["q"]):
        assert value not in text
    assert "invalid-key" in report.codes


def test_weak_rsa_far_too_small_is_reported_once() -> None:
    report = lint_document({"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "t"}]})
    assert [f.code for f in report.findings if f.severity.fails] == ["weak-rsa"]


def test_key_agreement_okp_key_counts_as_encryption() -> None:
    sig = JWK.generate("EdDSA", kid="s").to_dict()
    x = {
        "kty": "OKP",
        "crv": "X25519",
        "kid": "x",
        "x": "hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo",
    }
    report = lint_document({"keys": [sig, x]})
    assert [(f.code, f.index) for f in report.findings if f.code == "enc-key-in-signing-set"] == [
        ("enc-key-in-signing-set", 1)
    ]


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(JSON)
def test_arbitrary_json_never_raises(document: Any) -> None:
    report = lint_document(document)
    assert isinstance(report.to_dict(), dict)
    json.dumps(report.to_dict())


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.lists(KEYISH, max_size=4))
def test_arbitrary_keys_never_raise(keys: list[dict[str, Any]]) -> None:
    report = lint_document({"keys": keys})
    assert report.key_count == len(keys)
    json.dumps(report.to_dict())


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(st.binary(max_size=200) | st.text(max_size=200))
def test_arbitrary_bytes_never_raise(data: bytes | str) -> None:
    assert isinstance(lint_json(data), Report)


def test_deeply_nested_json_is_a_finding() -> None:
    assert lint_json("[" * 100_000 + "]" * 100_000).codes == {"invalid-json"}
