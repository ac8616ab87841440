"""Lint a whole JWK Set document (RFC 7517 section 5), from raw JSON, never raising.

:func:`lint_json` parses the text itself rather than through
:meth:`keywell.JWKSet.from_dict`, which refuses a set holding secrets outright:
the linter must report every finding of such a set, and must survive whatever
a server sends.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from keywell.jose.kid_rule import distinct_keys, entry_of_members, shared_kids
from keywell.lint.findings import Finding, Report, Severity
from keywell.lint.keys import KeyResult, lint_key, secret_findings, short
from keywell.lint.members import PRIVATE_MEMBERS

__all__ = ["lint_document", "lint_json"]

#: Public key material: with a private member beside it, an object is a JWK even without kty.
_MATERIAL = ("x", "y", "n", "e", "crv", "k")
_SET_ENTRY = re.compile(r"\$\.keys\[[0-9]+\]")  # an entry of a set, judged by lint_key
_NOT_A_SET_ADVICE = 'Serve a JSON object with a "keys" array of JWKs (RFC 7517 section 5).'


def _set_finding(code: str, severity: Severity, message: str, advice: str) -> Finding:
    return Finding(severity=severity, code=code, message=message, advice=advice)


def _duplicates(items: list[object]) -> list[Finding]:
    """Findings for kids several entries share, judged by the verifiers' own rule.

    :mod:`keywell.jose.kid_rule` decides per token: a kid is ``duplicate-kid``
    (high) only if, for some algorithm, it names several *different* keys that
    may verify it; entries with identical material are one key, reported as
    ``repeated-key`` (info).
    """
    entries = [
        e
        for index, item in enumerate(items)
        if isinstance(item, Mapping)
        for e in [entry_of_members(item, index)]
        if e is not None
    ]
    out = []
    for kid, group in shared_kids(entries).items():
        algs = sorted({alg for e in group for alg in e.algs})
        clashing = {alg: distinct_keys(group, alg) for alg in algs}
        clashing = {alg: found for alg, found in clashing.items() if len(found) > 1}
        shown = short(kid)
        if clashing:
            alg, found = next(iter(clashing.items()))
            named = {e.index for found in clashing.values() for e in found}
            message = (
                f"{len(found)} different keys share this kid and may verify {alg}"
                if len(clashing) == 1
                else f"different keys share this kid and may verify {', '.join(clashing)}"
            )
            out += [
                Finding(
                    severity=Severity.HIGH,
                    code="duplicate-kid",
                    message=message,
                    advice="Give each key a distinct kid; verifiers refuse tokens whose kid "
                    "names several keys (RFC 7517 section 4.5).",
                    index=e.index,
                    kid=shown,
                )
                for e in group
                if e.index in named
            ]
        elif len({e.material for e in group}) < len(group):
            out += [
                Finding(
                    severity=Severity.INFO,
                    code="repeated-key",
                    message=f"the same key is listed {len(group)} times under this kid",
                    advice="List each key once; verifiers treat identical entries as one key.",
                    index=e.index,
                    kid=shown,
                )
                for e in group[1:]
            ]
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


def _jwk_shaped(value: Mapping[str, Any]) -> bool:
    """An object with a ``kty``, or with a private member beside public key material."""
    if "kty" in value:
        return True
    return any(m in value for m in PRIVATE_MEMBERS) and any(m in value for m in _MATERIAL)


def _stray_secrets(document: object, *, skip_keys: bool) -> list[Finding]:
    """``private-members`` / ``symmetric-key`` for every JWK-shaped object outside a set's keys.

    Walks the whole JSON value (iteratively: depth is bounded only by the
    parser), whatever its shape: a bare array of JWKs, ``{"keys": {<JWK>}}``,
    a set nested under another member, a JWK inside a set's entry. With
    ``skip_keys`` the entries of the top-level ``"keys"`` array are not
    judged themselves (:func:`lint_key` does), but what they hold is. Each
    message names where the object is, as a JSONPath (RFC 9535) like
    ``$.jwks.keys[0]``.
    """
    out: list[Finding] = []
    stack: list[tuple[object, str]] = [(document, "$")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, Mapping):
            judged = skip_keys and _SET_ENTRY.fullmatch(path) is not None
            if _jwk_shaped(value) and not judged:
                found = secret_findings(value)
                if path != "$":
                    found = [
                        dataclasses.replace(f, message=f"the object at {path}: {f.message}")
                        for f in found
                    ]
                out += found
            stack += [
                (member, f"{path}{_member_path(str(name))}")
                for name, member in reversed(list(value.items()))
            ]
        elif isinstance(value, list):
            stack += [(item, f"{path}[{i}]") for i, item in reversed(list(enumerate(value)))]
    return out


def _member_path(name: str) -> str:
    """``.name`` for a plain member name, else ``['name']`` (JSON-escaped, RFC 9535 2.5.1)."""
    if name.isidentifier() and name.isascii():
        return f".{name}"
    return f"[{json.dumps(name)}]"


def lint_document(document: object, *, source: str = "-", now: datetime | None = None) -> Report:
    """Lint a parsed JSON value that should be a JWK Set; ``now`` judges certificate expiry.

    A private or symmetric JWK anywhere in the document is a critical
    finding, whatever the document's shape (a set's entries are judged by
    :func:`lint_key`; every other JWK-shaped object by :func:`_stray_secrets`).
    """
    when = now if now is not None else datetime.now(UTC)
    if not isinstance(document, Mapping):
        what = "a JSON array" if isinstance(document, list) else "not a JSON object"
        finding = _set_finding(
            "not-a-jwks", Severity.HIGH, f"the document is {what}", _NOT_A_SET_ADVICE
        )
        leaks = _stray_secrets(document, skip_keys=False)
        return Report.build(source=source, key_count=0, findings=[finding, *leaks])
    items = document.get("keys")
    if not isinstance(items, list):
        what = (
            'the document is a single JWK, not a JWK Set (wrap it: {"keys": [...]})'
            if "kty" in document
            else 'the document has no "keys" array'
        )
        finding = _set_finding("not-a-jwks", Severity.HIGH, what, _NOT_A_SET_ADVICE)
        # A JWK holding secrets is still a leak if it was published, wherever it is.
        leaks = _stray_secrets(document, skip_keys=False)
        return Report.build(source=source, key_count=0, findings=[finding, *leaks])
    strays = _stray_secrets(document, skip_keys=True)
    if not items:
        finding = _set_finding(
            "empty-set",
            Severity.MEDIUM,
            "the set holds no keys",
            "Publish the signing keys' public halves; with no keys no token can be verified.",
        )
        return Report.build(source=source, key_count=0, findings=[finding, *strays])
    results = [lint_key(item, index, now=when) for index, item in enumerate(items)]
    findings = [f for r in results for f in r.findings]
    findings += _duplicates(items)
    findings += _mixed_use(results)
    findings += strays
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
