"""Lint findings: what is wrong with a published JWK Set, how bad it is, what to do.

Each :class:`Finding` has a stable ``code`` (kebab-case, never renamed) that
scripts may switch on, a :class:`Severity`, a one-line ``message`` saying what
was found and an ``advice`` line saying how to fix it. Messages name members
and sizes, never key material.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Finding", "Report", "Severity"]


class Severity(enum.Enum):
    """How bad a finding is; ``high`` and ``critical`` fail a lint run."""

    INFO = "info"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for info up to 3 for critical, for sorting and thresholds."""
        return _RANKS[self]

    @property
    def fails(self) -> bool:
        """Whether a finding of this severity makes the lint run fail."""
        return self.rank >= _RANKS[Severity.HIGH]


_RANKS = {Severity.INFO: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One problem found in a JWK Set or in the HTTP response that served it.

    ``index`` is the position of the key in the ``keys`` array and ``kid`` its
    key ID when it has a string one; both are None for findings about the whole
    set or the HTTP response.
    """

    severity: Severity
    code: str
    message: str
    advice: str
    index: int | None = None
    kid: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The finding as a JSON-ready mapping."""
        return {
            "severity": self.severity.value,
            "code": self.code,
            "message": self.message,
            "advice": self.advice,
            "index": self.index,
            "kid": self.kid,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """The findings for one JWK Set, most severe first, in document order within a severity."""

    source: str
    key_count: int
    findings: tuple[Finding, ...] = field(default=())

    @classmethod
    def build(cls, *, source: str, key_count: int, findings: Iterable[Finding]) -> Report:
        """Sort ``findings`` (stable: most severe first, then by key index)."""
        ordered = sorted(
            findings,
            key=lambda f: (-f.severity.rank, -1 if f.index is None else f.index),
        )
        return cls(source=source, key_count=key_count, findings=tuple(ordered))

    @property
    def failed(self) -> bool:
        """Whether any finding is of severity high or critical."""
        return any(f.severity.fails for f in self.findings)

    @property
    def codes(self) -> frozenset[str]:
        """The distinct finding codes."""
        return frozenset(f.code for f in self.findings)

    def counts(self) -> dict[str, int]:
        """How many findings of each severity, most severe first."""
        out = {s.value: 0 for s in sorted(Severity, key=lambda s: -s.rank)}
        for f in self.findings:
            out[f.severity.value] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        """The report as a JSON-ready mapping."""
        return {
            "source": self.source,
            "keys": self.key_count,
            "ok": not self.failed,
            "counts": self.counts(),
            "findings": [f.to_dict() for f in self.findings],
        }
