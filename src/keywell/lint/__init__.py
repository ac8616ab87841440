"""keywell.lint: find what is wrong with a published JWK Set, and say how to fix it.

A pure library: :func:`lint_json` and :func:`lint_document` judge a set's
document, :func:`lint_cache_headers` judges the headers it was served with,
and :func:`lint_url` (which needs ``httpx``) fetches a set and judges both.
None of them raises on bad input: every problem is a :class:`Finding`.
"""

from __future__ import annotations

from keywell.lint.findings import Finding, Report, Severity
from keywell.lint.http import lint_cache_headers, lint_url, parse_cache_control
from keywell.lint.jwks import lint_document, lint_json

__all__ = [
    "Finding",
    "Report",
    "Severity",
    "lint_cache_headers",
    "lint_document",
    "lint_json",
    "lint_url",
    "parse_cache_control",
]
