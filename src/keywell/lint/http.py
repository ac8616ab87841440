"""Lint how a JWK Set is served: status, transport and HTTP caching (RFC 9111).

:func:`lint_cache_headers` is pure (headers in, findings out); :func:`lint_url`
fetches once with ``httpx`` (no redirects followed, a size cap, a timeout) and
lints both the response and the set it carried. A fetch that fails is a
finding, not an exception: the report says why the set could not be read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import urlsplit

from keywell.lint.findings import Finding, Report, Severity
from keywell.lint.jwks import lint_json

__all__ = [
    "MAX_AGE_LONG",
    "MAX_AGE_SHORT",
    "MAX_BODY",
    "lint_cache_headers",
    "lint_url",
    "parse_cache_control",
]

#: A max-age under this many seconds makes every client refetch all the time.
MAX_AGE_SHORT = 300
#: A max-age over this many seconds makes revocation lag by as much.
MAX_AGE_LONG = 86_400
#: Bodies larger than this are refused unread (a JWKS is a few kilobytes).
MAX_BODY = 1 << 20

_JSON_TYPES = ("application/json", "application/jwk-set+json")


def _finding(severity: Severity, code: str, message: str, advice: str) -> Finding:
    return Finding(severity=severity, code=code, message=message, advice=advice)


def parse_cache_control(value: str) -> dict[str, str | None]:
    """Directives of a Cache-Control value, names lower-cased (RFC 9111 section 5.2)."""
    out: dict[str, str | None] = {}
    for part in value.split(","):
        name, sep, arg = part.strip().partition("=")
        name = name.strip().lower()
        if name:
            out.setdefault(name, arg.strip().strip('"') if sep else None)
    return out


def _max_age(directives: Mapping[str, str | None]) -> list[Finding]:
    if "max-age" not in directives:
        return [
            _finding(
                Severity.INFO,
                "no-max-age",
                "Cache-Control has no max-age",
                "Say how long the set may be cached: max-age=3600 suits hourly-or-slower rotation.",
            )
        ]
    raw = directives["max-age"] or ""
    if not raw.isdigit():
        return [
            _finding(
                Severity.MEDIUM,
                "bad-max-age",
                f'max-age "{raw[:32]}" is not a number of seconds',
                "Send max-age as a whole number of seconds (RFC 9111 section 5.2.2.1).",
            )
        ]
    seconds = int(raw)
    if seconds < MAX_AGE_SHORT:
        return [
            _finding(
                Severity.MEDIUM,
                "max-age-short",
                f"max-age={seconds} is under {MAX_AGE_SHORT} seconds",
                "Clients will hammer the endpoint; cache for at least 5 minutes (an hour is "
                "typical) and pre-publish new keys for longer than that.",
            )
        ]
    if seconds > MAX_AGE_LONG:
        return [
            _finding(
                Severity.MEDIUM,
                "max-age-long",
                f"max-age={seconds} is over one day",
                "A revoked key stays trusted for as long as the set is cached; keep max-age "
                "at or under a day (an hour is typical).",
            )
        ]
    return []


def lint_cache_headers(headers: Mapping[str, str]) -> list[Finding]:
    """Findings about the caching headers of a JWKS response (names matched case-insensitively)."""
    lower = {k.lower(): v for k, v in headers.items()}
    out: list[Finding] = []
    value = lower.get("cache-control")
    if value is None:
        out.append(
            _finding(
                Severity.MEDIUM,
                "no-cache-control",
                "the response has no Cache-Control header",
                "Send Cache-Control: public, max-age=3600 so clients and CDNs cache the set "
                "instead of guessing (or refetching on every token).",
            )
        )
    else:
        directives = parse_cache_control(value)
        if "no-store" in directives:
            out.append(
                _finding(
                    Severity.MEDIUM,
                    "no-store",
                    "Cache-Control says no-store",
                    "Keys change rarely: allow caching (public, max-age=3600), or clients will "
                    "fetch the set for every token they verify.",
                )
            )
        if "no-cache" in directives:
            out.append(
                _finding(
                    Severity.MEDIUM,
                    "no-cache",
                    "Cache-Control says no-cache",
                    "Every use must revalidate with the server; use max-age with an ETag instead.",
                )
            )
        if "no-store" not in directives and "no-cache" not in directives:
            out += _max_age(directives)
    if "etag" not in lower:
        out.append(
            _finding(
                Severity.INFO,
                "no-etag",
                "the response has no ETag",
                "Send a strong ETag so clients revalidate with If-None-Match and get a 304 "
                "instead of the whole set.",
            )
        )
    ctype = lower.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in _JSON_TYPES:
        out.append(
            _finding(
                Severity.INFO,
                "content-type",
                f'Content-Type is "{ctype[:64]}", not application/json',
                "Serve the set as application/json (or application/jwk-set+json).",
            )
        )
    return out


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def lint_url(url: str, *, timeout: float = 10.0, now: datetime | None = None) -> Report:
    """Fetch ``url`` once and lint the response and the set; never raises for a bad server."""
    import httpx

    findings: list[Finding] = []
    parts = urlsplit(url)
    if parts.scheme == "http" and not _is_loopback(parts.hostname or ""):
        findings.append(
            _finding(
                Severity.HIGH,
                "not-https",
                "the set is served over plain http",
                "Serve it over https only: whoever can alter the response can mint tokens.",
            )
        )
    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=False) as client,
            client.stream("GET", url, headers={"Accept": "application/json"}) as response,
        ):
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_BODY:
                    break
            status, headers = response.status_code, dict(response.headers)
    except httpx.HTTPError as exc:
        fail = _finding(
            Severity.HIGH,
            "fetch-failed",
            f"could not fetch the set ({type(exc).__name__})",
            "Check the URL, DNS, TLS and that the server answers within the timeout.",
        )
        return Report.build(source=url, key_count=0, findings=[*findings, fail])
    if status != 200:
        where = headers.get("location")
        moved = f" to {where[:200]}" if where and 300 <= status < 400 else ""
        fail = _finding(
            Severity.HIGH,
            "http-status",
            f"the server answered {status}{moved}",
            "Serve the set with 200 at the URL clients are given; many clients follow no "
            "redirects.",
        )
        return Report.build(source=url, key_count=0, findings=[*findings, fail])
    if len(body) > MAX_BODY:
        fail = _finding(
            Severity.HIGH,
            "too-large",
            f"the body is over {MAX_BODY} bytes",
            "A JWK Set is a few kilobytes; clients cap what they read.",
        )
        return Report.build(source=url, key_count=0, findings=[*findings, fail])
    findings += lint_cache_headers(headers)
    inner = lint_json(body, source=url, now=now)
    return Report.build(
        source=url, key_count=inner.key_count, findings=[*findings, *inner.findings]
    )
