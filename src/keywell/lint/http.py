"""Lint how a JWK Set is served: status, transport and HTTP caching (RFC 9111).

:func:`lint_cache_headers` is pure (headers in, findings out); :func:`lint_url`
fetches once through the client's one bounded exchange
(:func:`keywell.client.exchange.get_sync`: no redirect followed, ``timeout``
one deadline for the whole exchange, the body held to :data:`MAX_BODY`
*decoded*, identity/gzip/deflate only) and lints both the response and the
set it carried. A fetch that fails is a finding, not an exception: the report
says why the set could not be read. ``Cache-Control`` is read by the client's
parser (:mod:`keywell.client.freshness`), so the linter and the cache agree on
what a header means; a ``max-age`` that is not delta-seconds (RFC 9111
section 1.2.2: ASCII digits, at most ten) is a ``bad-max-age`` finding.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from keywell.lint.findings import Finding, Report, Severity
from keywell.lint.jwks import lint_json

if TYPE_CHECKING:
    import httpx

    from keywell.client.exchange import Answer

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
#: Bodies larger than this (decoded) are refused (a JWKS is a few kilobytes).
MAX_BODY = 1 << 20

_JSON_TYPES = ("application/json", "application/jwk-set+json")


def _finding(severity: Severity, code: str, message: str, advice: str) -> Finding:
    return Finding(severity=severity, code=code, message=message, advice=advice)


def parse_cache_control(value: str) -> dict[str, str | None]:
    """Directives of a Cache-Control value, names lower-cased (RFC 9111 section 5.2).

    The client's parser (:func:`keywell.client.freshness.parse_directives`),
    imported on use: ``keywell.client`` needs the ``client`` extra.
    """
    from keywell.client.freshness import parse_directives

    return parse_directives(value)


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
    from keywell.client.freshness import delta_seconds

    raw = directives["max-age"] or ""
    seconds = delta_seconds(raw)
    if seconds is None:
        return [
            _finding(
                Severity.MEDIUM,
                "bad-max-age",
                f"max-age {raw[:32]!r} is not a number of seconds",
                "Send max-age as a whole number of seconds in ASCII digits, at most ten "
                "(RFC 9111 sections 1.2.2, 5.2.2.1).",
            )
        ]
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


def _not_https(url: httpx.URL) -> list[Finding]:
    from keywell.client.exchange import is_loopback

    if url.scheme != "http" or is_loopback(url.host):
        return []
    return [
        _finding(
            Severity.HIGH,
            "not-https",
            "the set is served over plain http",
            "Serve it over https only: whoever can alter the response can mint tokens.",
        )
    ]


def _fetch_failed(why: str) -> Finding:
    return _finding(
        Severity.HIGH,
        "fetch-failed",
        f"could not fetch the set: {why[:300]}",
        "Check the URL, DNS, TLS and that the server answers within the timeout.",
    )


def _fetch(url: str, timeout: float) -> tuple[list[Finding], Answer | None]:
    """One bounded GET (the client's exchange): the transport findings, and the answer.

    The answer is None when the fetch failed; the findings then say why.
    """
    import httpx

    try:
        target = httpx.URL(url)
    except httpx.InvalidURL as exc:
        return [_fetch_failed(f"invalid URL ({str(exc)[:100]})")], None
    findings = _not_https(target)
    answer = _get(target, timeout)
    if isinstance(answer, Finding):
        return [*findings, answer], None
    return findings, answer


def _get(target: httpx.URL, timeout: float) -> Answer | Finding:
    from keywell.client.deadline import owned_sync_client
    from keywell.client.exchange import ExchangeError, get_sync

    with owned_sync_client() as client:
        try:
            return get_sync(
                client,
                target,
                headers={"Accept": "application/json", "Accept-Encoding": "identity"},
                timeout=timeout,
                max_bytes=MAX_BODY,
                follow_redirects=False,
                precheck=lambda response: None,
            )
        except ExchangeError as exc:
            if exc.too_large:
                return _finding(
                    Severity.HIGH,
                    "too-large",
                    f"the body is over {MAX_BODY} bytes (decoded)",
                    "A JWK Set is a few kilobytes; clients cap what they read.",
                )
            return _fetch_failed(exc.reason)


def lint_url(url: str, *, timeout: float = 10.0, now: datetime | None = None) -> Report:
    """Fetch ``url`` once and lint the response and the set; never raises for a bad server.

    ``timeout`` (seconds) bounds the whole exchange, connect to last body byte.
    """
    findings, answer = _fetch(url, timeout)
    if answer is None:
        return Report.build(source=url, key_count=0, findings=findings)
    status, headers = answer.status, answer.headers
    if status != 200 or answer.body is None:
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
    findings += lint_cache_headers(headers)
    inner = lint_json(answer.body, source=url, now=now)
    return Report.build(
        source=url, key_count=inner.key_count, findings=[*findings, *inner.findings]
    )
