"""The key-set pages: the list, one set (live part, actions, policy) and the revoke check.

Pure functions from the server's snapshot (``Registry``: key-set infos, keys
and the exact bytes and headers the public fast path serves) to markup; the
routes in :mod:`keywell.server.console.routes` do the I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from keywell.lifecycle import KeyInfo, KeySetInfo, KeyState, format_duration, rotation_due_at
from keywell.server.console.facts import by_state, custody_of, health, relative, stamp
from keywell.server.console.markup import Markup, join, render
from keywell.server.console.timeline import draw_timeline
from keywell.server.published import Entry

__all__ = ["POLICY_FIELDS", "keyset_list", "keyset_page", "live_part", "revoke_page"]


def keyset_list(
    infos: Sequence[KeySetInfo], keys: dict[str, list[KeyInfo]], *, prefix: str, now: datetime
) -> Markup:
    """The table of every key set: algorithm, custody, active kid, next rotation, health."""
    rows = []
    for info in infos:
        ks = keys.get(info.name, [])
        active = by_state(ks, KeyState.ACTIVE)
        due = rotation_due_at(info.policy, ks)
        level, why = health(info, ks, now)
        rows.append(
            render(
                '<tr data-keyset="{name}"><td><a href="{p}/keysets/{name}">{name}</a></td>'
                "<td>{alg}</td><td>{custody}</td><td><code>{kid}</code></td>"
                '<td title="{at}">{rel}</td><td class="health {level}">{why}</td></tr>',
                p=prefix,
                name=info.name,
                alg=info.alg,
                custody=custody_of(info),
                kid=active[0].kid if active else "-",
                at=stamp(due),
                rel=relative(due, now),
                level=level,
                why=why,
            )
        )
    if not rows:
        return Markup(
            '<p class="empty">No key sets yet: create one with <code>keywell keyset '
            "create</code>.</p>"
        )
    return render(
        '<table class="keysets"><thead><tr><th>Key set</th><th>Algorithm</th><th>Custody</th>'
        "<th>Active kid</th><th>Next rotation</th><th>Health</th></tr></thead>"
        "<tbody>{rows}</tbody></table>",
        rows=join(rows),
    )


def live_part(
    info: KeySetInfo,
    keys: Sequence[KeyInfo],
    entry: Entry | None,
    *,
    prefix: str,
    jwks_url: str,
    now: datetime,
) -> Markup:
    """What the page refreshes in place: summary, timeline, keys, the JWKS exactly as served."""
    active = by_state(keys, KeyState.ACTIVE)
    due = rotation_due_at(info.policy, keys)
    level, why = health(info, keys, now)
    summary = render(
        '<dl class="summary"><dt>Issuer</dt><dd>{issuer}</dd><dt>Algorithm</dt><dd>{alg}</dd>'
        "<dt>Custody</dt><dd>{custody}</dd><dt>Active kid</dt>"
        '<dd><code id="active-kid">{kid}</code></dd>'
        '<dt>Next rotation</dt><dd id="next-rotation" title="{at}">{rel}</dd>'
        '<dt>Health</dt><dd class="health {level}">{why}</dd></dl>',
        issuer=info.issuer,
        alg=info.alg,
        custody=custody_of(info),
        kid=active[0].kid if active else "-",
        at=stamp(due),
        rel=relative(due, now),
        level=level,
        why=why,
    )
    key_rows = join(
        render(
            '<tr data-kid="{kid}" data-state="{state}"><td><code>{kid}</code></td>'
            '<td class="state {state}">{state}</td><td>{pub}</td><td>{act}</td><td>{ret}</td>'
            "<td>{leaves}</td><td>{reason}</td><td>{link}</td></tr>",
            kid=k.kid,
            state=k.state.value,
            pub=stamp(k.published_at),
            act=stamp(k.activated_at),
            ret=stamp(k.retired_at),
            leaves=stamp(k.revoked_at or k.expires_at),
            reason=k.revoke_reason or "",
            link=render(
                '<a class="revoke" href="{p}/keysets/{n}/revoke?{q}">revoke…</a>',
                p=prefix,
                n=info.name,
                q=urlencode({"kid": k.kid}),
            )
            if k.state in (KeyState.PENDING, KeyState.ACTIVE, KeyState.RETIRED)
            else "",
        )
        for k in reversed(keys)
    )
    if entry is None:
        served = Markup(
            '<p class="empty">This set is private (HMAC): it has no public JWK Set.</p>'
        )
    else:
        doc = entry.jwks
        headers = {k.decode(): v.decode("latin-1") for k, v in doc.ok_headers}
        served = render(
            '<p>As served at <a href="{url}"><code>{url}</code></a>:</p>'
            '<dl class="headers"><dt>ETag</dt><dd id="jwks-etag"><code>{etag}</code></dd>'
            '<dt>Cache-Control</dt><dd id="jwks-cache-control"><code>{cc}</code></dd></dl>'
            '<pre id="jwks-body">{body}</pre>',
            url=jwks_url,
            etag=headers.get("etag", ""),
            cc=headers.get("cache-control", ""),
            body=doc.body.decode("utf-8", "replace"),
        )
    return render(
        '<div id="live" data-version="{v}" data-poll="{p}/keysets/{n}/live">{summary}'
        '<h2>Timeline</h2><div class="scroll">{svg}</div>'
        '<p class="legend"><span class="pending">pending</span> <span '
        'class="prepublish">prepublish window</span> '
        '<span class="active">active</span> <span class="retired">retired</span> '
        '<span class="projected">projected</span> <span class="leaves">leaves the JWKS</span></p>'
        '<h2>Keys</h2><table class="keys"><thead><tr><th>kid</th><th>State</th><th>Published</th>'
        "<th>Activated</th><th>Retired</th><th>Leaves the JWKS</th><th>Revoke reason</th><th></th>"
        "</tr></thead><tbody>{rows}</tbody></table>"
        "<h2>Published JWK Set</h2>{served}</div>",
        v=info.version,
        summary=summary,
        p=prefix,
        n=info.name,
        svg=draw_timeline(info, keys, now),
        rows=key_rows,
        served=served,
    )


POLICY_FIELDS = (
    ("rotation_period", "Rotation period", "how long a key signs"),
    ("prepublish", "Prepublish", "published before signing (blank: the rotation period)"),
    ("max_token_ttl", "Max token TTL", "the longest token lifetime"),
    ("jwks_max_age", "JWKS max-age", "Cache-Control max-age (at most the prepublish)"),
    ("clock_skew", "Clock skew", "kept after retirement for verifier clocks"),
)


def _policy_value(info: KeySetInfo, name: str) -> str:
    value: Any = getattr(info.policy, name)
    return "" if value is None else format_duration(value)


def keyset_page(
    info: KeySetInfo,
    keys: Sequence[KeyInfo],
    entry: Entry | None,
    *,
    prefix: str,
    jwks_url: str,
    csrf: str,
    now: datetime,
) -> Markup:
    """One key set: summary, the live part, rotate and emergency rotate, the editable policy."""
    fields = join(
        render(
            '<label>{label} <input name="{name}" value="{value}" size="8"> <small>{hint}</small>'
            "</label>",
            name=name,
            label=label,
            value=_policy_value(info, name),
            hint=hint,
        )
        for name, label, hint in POLICY_FIELDS
    )
    action = (
        '<form method="post" action="{p}/keysets/{n}/rotate" class="inline">'
        '<input type="hidden" name="csrf" value="{csrf}">'
    )
    return render(
        "{live}"
        '<h2>Actions</h2><div class="actions">'
        + action
        + '<button type="submit" id="rotate">Rotate now</button></form> '
        + action
        + '<input type="hidden" name="emergency" value="1">'
        '<button type="submit" id="emergency-rotate" class="danger">Emergency rotate</button>'
        "</form>"
        "<p><small>A planned rotation waits until the pending key has been published for the "
        "prepublish period; an emergency rotation hands signing to the pending key at once "
        "(verifiers that cached the set before it was published may refuse new tokens).</small>"
        "</p></div>"
        '<h2>Policy</h2><form method="post" action="{p}/keysets/{n}/policy" class="policy">'
        '<input type="hidden" name="csrf" value="{csrf}">{fields}'
        '<button type="submit" id="save-policy">Save policy</button></form>',
        live=live_part(info, keys, entry, prefix=prefix, jwks_url=jwks_url, now=now),
        p=prefix,
        n=info.name,
        csrf=csrf,
        fields=fields,
    )


def revoke_page(
    info: KeySetInfo, keys: Sequence[KeyInfo], kid: str, *, prefix: str, csrf: str
) -> Markup:
    """Confirm a revocation: what it does to the set, the kid to type back, a reason."""
    key = next((k for k in keys if k.kid == kid), None)
    if key is None:
        return Markup('<p class="flash error">The key set has no key with that kid.</p>')
    pending = by_state(keys, KeyState.PENDING)
    if key.state is KeyState.ACTIVE:
        effect = (
            render(
                "<p>This is the <strong>active</strong> key. The pending key <code>{p}</code> "
                "takes "
                "over signing at once (the emergency hand-over) and a new pending key is "
                "published.</p>",
                p=pending[0].kid,
            )
            if pending
            else Markup(
                "<p>This is the <strong>active</strong> key; a new key is created to take over "
                "signing.</p>"
            )
        )
    elif key.state is KeyState.PENDING:
        effect = Markup(
            "<p>This is the <strong>pending</strong> key; a new pending key is published in its "
            "place.</p>"
        )
    else:
        effect = render(
            "<p>This key is <strong>{s}</strong>; it leaves the JWK Set at once.</p>",
            s=key.state.value,
        )
    return render(
        '<p>Revoke <code id="revoke-kid">{kid}</code> of <strong>{n}</strong>: it leaves the JWK '
        "Set at once, "
        "its private half is destroyed, and every token it signed stops verifying.</p>{effect}"
        '<form method="post" action="{p}/keysets/{n}/revoke" class="revoke">'
        '<input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="kid" '
        'value="{kid}">'
        '<label>Type the kid to confirm <input name="confirm" id="confirm" autocomplete="off" '
        "required></label>"
        '<label>Reason <input name="reason" id="reason" maxlength="500" required></label>'
        '<button type="submit" id="revoke" class="danger">Revoke</button></form>',
        kid=kid,
        n=info.name,
        effect=effect,
        p=prefix,
        csrf=csrf,
    )
