"""The token debugger and the JWKS lint pages.

The debugger verifies a pasted token with the library's own
:class:`~keywell.Verifier` against the live published JWK Set of a key set
(the very bytes the fast path serves), with the set's issuer and clock skew,
so its verdict and error code are the ones a keywell verifier gives
(:mod:`keywell.errors`). The token is read from the POST body only, never
stored, logged or echoed back; only its decoded header and claims are shown.
The lint judges a pasted JWK Set with :func:`keywell.lint.lint_json` and
never fetches anything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from keywell.errors import KeywellError
from keywell.jose._compact import split
from keywell.jose._json import loads_object
from keywell.jose.base64url import b64url_decode
from keywell.jose.jwkset import JWKSet
from keywell.jose.verifier import Verifier
from keywell.lifecycle import KeyInfo, KeySetInfo
from keywell.lint import lint_json
from keywell.server.console.facts import relative
from keywell.server.console.markup import Markup, join, render
from keywell.server.published import Entry

__all__ = ["Verdict", "debug_token", "debugger_page", "lint_page"]

_TIME_CLAIMS = ("iat", "nbf", "exp")


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the debugger found: the decoded parts, the set and key named, and the outcome."""

    header: Mapping[str, Any] | None
    claims: Mapping[str, Any] | None
    keyset: str | None
    key: KeyInfo | None
    ok: bool
    code: str
    error: str
    message: str


def _decoded(segment: str, what: str) -> dict[str, Any] | None:
    try:
        return loads_object(b64url_decode(segment), what)
    except (KeywellError, ValueError):
        return None


def debug_token(
    token: str,
    infos: Mapping[str, KeySetInfo],
    keys: Mapping[str, Sequence[KeyInfo]],
    entries: Mapping[str, Entry],
    *,
    keyset: str | None,
    default: str,
    audience: str | None,
    now: float,
) -> Verdict:
    """Decode ``token`` and verify it as a keywell verifier of the chosen (or named) set would.

    The set is ``keyset`` if given, else the one holding the header's ``kid``,
    else the one whose issuer is the ``iss`` claim, else ``default`` (the set
    ``/.well-known/jwks.json`` serves). Verification uses the
    set's published JWKS, issuer and clock skew (as leeway); ``audience``
    ``None`` skips the audience check.
    """
    header = claims = None
    try:
        h, p, _, _ = split(token.strip(), 64 * 1024)
        header, claims = _decoded(h, "header"), _decoded(p, "payload")
    except KeywellError:
        pass
    kid = header.get("kid") if header else None
    iss = claims.get("iss") if claims else None
    name = keyset
    if name is None:
        name = next((n for n, ks in keys.items() if any(k.kid == kid for k in ks)), None)
    if name is None:
        name = next((n for n, i in infos.items() if i.issuer == iss), None)
    if name is None and default in infos:
        name = default
    info = infos.get(name) if name else None
    key = next((k for k in keys.get(name or "", ()) if k.kid == kid), None)

    def verdict(ok: bool, code: str, error: str, message: str) -> Verdict:
        return Verdict(header, claims, name, key, ok, code, error, message)

    if info is None:
        return verdict(
            False,
            "KW_NO_MATCHING_KEY",
            "NoMatchingKeyError",
            "no key set here holds the token's kid or issuer",
        )
    entry = entries.get(info.name)
    if entry is None:
        return verdict(
            False,
            "KW_KEYSET",
            "KeySetError",
            "this key set is private (HMAC): it publishes no JWK Set",
        )
    try:
        verifier = Verifier(
            JWKSet.from_json(entry.jwks.body),
            issuer=info.issuer,
            audience=audience or None,
            leeway=info.policy.clock_skew.total_seconds(),
            clock=lambda: now,
        )
        verifier.verify(token.strip())
    except KeywellError as exc:
        return verdict(False, exc.code, type(exc).__name__, str(exc))
    return verdict(True, "", "", "valid: signature, algorithm and claims check out")


def _claims_table(values: Mapping[str, Any], now: datetime) -> Markup:
    rows = []
    for name, value in values.items():
        note = ""
        if name in _TIME_CLAIMS and type(value) in (int, float):
            try:
                at = datetime.fromtimestamp(value, UTC)
                note = f"{at:%Y-%m-%d %H:%M:%S UTC} ({relative(at, now)})"
            except (OverflowError, ValueError, OSError):
                note = "out of range"
        rows.append(
            render(
                '<tr data-claim="{n}"><th>{n}</th><td><code>{v}</code></td><td '
                'class="when">{note}</td></tr>',
                n=name,
                v=json.dumps(value, ensure_ascii=False),
                note=note,
            )
        )
    return render('<table class="claims"><tbody>{rows}</tbody></table>', rows=join(rows))


def debugger_page(
    names: Sequence[str], *, prefix: str, csrf: str, verdict: Verdict | None, now: datetime
) -> Markup:
    """The paste form, and after a POST the decoded token and the verdict."""
    options = join(render('<option value="{n}">{n}</option>', n=n) for n in names)
    form = render(
        '<form method="post" action="{p}/debugger" class="debugger">'
        '<input type="hidden" name="csrf" value="{csrf}">'
        '<label>Token <textarea name="token" id="token" rows="5" cols="90" spellcheck="false" '
        'autocomplete="off" required></textarea></label>'
        '<label>Key set <select name="keyset" id="keyset"><option value="">(from kid or '
        "iss)</option>{options}</select></label>"
        '<label>Audience <input name="audience" id="audience" placeholder="(not checked)"></label>'
        '<button type="submit" id="debug">Verify</button>'
        "<p><small>Nothing pasted here is stored or logged.</small></p></form>",
        p=prefix,
        csrf=csrf,
        options=options,
    )
    if verdict is None:
        return form
    outcome = (
        render('<p id="verdict" class="verdict ok">{m}</p>', m=verdict.message)
        if verdict.ok
        else render(
            '<p id="verdict" class="verdict bad"><strong>refused</strong>: <code '
            'id="verdict-code">{c}</code> '
            "(<code>{e}</code>) {m}</p>",
            c=verdict.code,
            e=verdict.error,
            m=verdict.message,
        )
    )
    key = verdict.key
    named = render(
        '<dl class="summary"><dt>Key set</dt><dd id="verdict-keyset">{s}</dd><dt>Key</dt><dd '
        'id="verdict-key">{k}</dd></dl>',
        s=verdict.keyset or "(none)",
        k=f"{key.kid} ({key.state.value})" if key else "(no key of the set has this kid)",
    )
    parts = [outcome, named]
    for title, values in (("Header", verdict.header), ("Claims", verdict.claims)):
        parts.append(render("<h2>{t}</h2>", t=title))
        parts.append(
            _claims_table(values, now) if values is not None else Markup("<p>(not decodable)</p>")
        )
    return render('{form}<section id="result">{parts}</section>', form=form, parts=join(parts))


def lint_page(*, prefix: str, csrf: str, text: str | None) -> Markup:
    """The paste form, and after a POST the linter's findings."""
    form = render(
        '<form method="post" action="{p}/lint" class="lint"><input type="hidden" name="csrf" '
        'value="{csrf}">'
        '<label>JWK Set (JSON) <textarea name="jwks" id="jwks" rows="10" cols="90" '
        'spellcheck="false" required>'
        "</textarea></label>"
        '<button type="submit" id="lint">Lint</button>'
        "<p><small>Paste only: the console never fetches a URL.</small></p></form>",
        p=prefix,
        csrf=csrf,
    )
    if text is None:
        return form
    report = lint_json(text, source="pasted")
    rows = join(
        render(
            '<tr data-code="{c}"><td class="severity {s}">{s}</td><td><code>{c}</code></td>'
            "<td>{k}</td><td>{m}</td><td>{a}</td></tr>",
            s=f.severity.value,
            c=f.code,
            k=f.kid or ("" if f.index is None else f"#{f.index}"),
            m=f.message,
            a=f.advice,
        )
        for f in report.findings
    )
    summary = render(
        '<p id="lint-summary" class="verdict {cls}">{n} key(s); {counts}</p>',
        cls="bad" if report.failed else "ok",
        n=report.key_count,
        counts=", ".join(f"{v} {k}" for k, v in report.counts().items()),
    )
    table = render(
        '<table class="findings"><thead><tr><th>Severity</th><th>Code</th><th>Key</th>'
        "<th>Finding</th>"
        "<th>Advice</th></tr></thead><tbody>{rows}</tbody></table>",
        rows=rows,
    )
    return render(
        '{form}<section id="result">{summary}{table}</section>',
        form=form,
        summary=summary,
        table=table,
    )
