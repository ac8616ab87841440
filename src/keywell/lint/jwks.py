"""Lint a whole JWK Set document (RFC 7517 section 5), from raw JSON, never raising.

:func:`lint_json` parses the text itself rather than through
:meth:`keywell.JWKSet.from_dict`, which refuses a set holding secrets outright:
the linter must report every finding of such a set, and must survive whatever
a server sends.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime

from keywell.lint.findings import Finding, Report, Severity
from keywell.lint.keys import KeyResult, lint_key

__all__ = ["lint_document", "lint_json"]

_NOT_A_SET_ADVICE = 'Serve a JSON object with a "keys" array of JWKs (RFC 7517 section 5).'


def _set_finding(code: str, severity: Severity, message: str, advice: str) -> Finding:
    return Finding(severity=severity, code=code, message=message, advice=advice)


def _duplicates(results: list[KeyResult]) -> list[Finding]:
    counts = Counter(r.kid for r in results if r.kid is not None)
    out = []
    for index, r in enumerate(results):
        if r.kid is not None and counts[r.kid] > 1:
            out.append(
                Finding(
                    severity=Severity.HIGH,
                    code="duplicate-kid",
                    message=f"{counts[r.kid]} keys share this kid",
                    advice="Give each key a distinct kid; a verifier may pick the wrong key "
                    "and refuse valid tokens.",
                    index=index,
                    kid=r.kid,
                )
            )
    return out


def _mixed_use(results: list[KeyResult]) -> list[Finding]:
    if not any(r.role == "sig" for r in results):
        return []
    return [
        Finding(
            severity=Severity.MEDIUM,
            code="enc-key-in-signing-set",
            message="an encryption key is mixed into a signing set",
            advice="Publish encryption keys in a set of their own (or mark every key's use), "
            "so no client tries to verify with them.",
            index=index,
            kid=r.kid,
        )
        for index, r in enumerate(results)
        if r.role == "enc"
    ]


def lint_document(document: object, *, source: str = "-", now: datetime | None = None) -> Report:
    """Lint a parsed JSON value that should be a JWK Set; ``now`` judges certificate expiry."""
    when = now if now is not None else datetime.now(UTC)
    if not isinstance(document, Mapping):
        finding = _set_finding(
            "not-a-jwks", Severity.HIGH, "the document is not a JSON object", _NOT_A_SET_ADVICE
        )
        return Report.build(source=source, key_count=0, findings=[finding])
    items = document.get("keys")
    if not isinstance(items, list):
        what = (
            'the document is a single JWK, not a JWK Set (wrap it: {"keys": [...]})'
            if "kty" in document
            else 'the document has no "keys" array'
        )
        finding = _set_finding("not-a-jwks", Severity.HIGH, what, _NOT_A_SET_ADVICE)
        return Report.build(source=source, key_count=0, findings=[finding])
    if not items:
        finding = _set_finding(
            "empty-set",
            Severity.MEDIUM,
            "the set holds no keys",
            "Publish the signing keys' public halves; with no keys no token can be verified.",
        )
        return Report.build(source=source, key_count=0, findings=[finding])
    results = [lint_key(item, index, now=when) for index, item in enumerate(items)]
    findings = [f for r in results for f in r.findings]
    findings += _duplicates(results)
    findings += _mixed_use(results)
    return Report.build(source=source, key_count=len(items), findings=findings)


def lint_json(text: str | bytes, *, source: str = "-", now: datetime | None = None) -> Report:
    """Parse ``text`` as JSON and lint it; invalid JSON is itself a finding."""
    try:
        document = json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError):
        finding = _set_finding(
            "invalid-json",
            Severity.HIGH,
            "the document is not valid JSON",
            "Serve the set as UTF-8 JSON; no client can parse this one.",
        )
        return Report.build(source=source, key_count=0, findings=[finding])
    return lint_document(document, source=source, now=now)
