"""The audit log page: filters by key set, actor and action, newest first, paged by id.

Events come from :meth:`keywell.Issuer.history` (``actor=``, ``action=``,
``before=``); the next page starts below the lowest id shown, so events
written meanwhile never shift a page.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

from keywell.lifecycle import AuditEvent
from keywell.server.console.markup import Markup, join, render

__all__ = ["audit_page", "parse_before"]

_ID_LIMIT = 2**31  # event ids are 32-bit integers (keywell.store.catalog)


def parse_before(text: str | None) -> int | None:
    """The ``before`` event id of a page link: ASCII digits below 2**31, else ``None`` (ignored).

    ``str.isdigit`` is not the test: it accepts ``"²"`` (which ``int`` refuses) and
    every script's digits; an id out of range would be refused by the store.
    """
    if not text or len(text) > 10 or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value < _ID_LIMIT else None


def audit_page(
    events: Sequence[AuditEvent],
    *,
    prefix: str,
    names: Sequence[str],
    keyset: str | None,
    actor: str | None,
    action: str | None,
    next_before: int | None,
) -> Markup:
    """The filter form, a page of events (newest first) and a link to the next page."""
    options = join(
        render(
            '<option value="{n}"{sel}>{n}</option>',
            n=n,
            sel=Markup(" selected") if n == keyset else "",
        )
        for n in names
    )
    form = render(
        '<form method="get" action="{p}/audit" class="filters">'
        '<label>Key set <select name="keyset" id="f-keyset"><option '
        'value="">(all)</option>{options}</select></label>'
        '<label>Actor <input name="actor" id="f-actor" value="{actor}"></label>'
        '<label>Action <input name="action" id="f-action" value="{action}"></label>'
        '<button type="submit" id="filter">Filter</button></form>',
        p=prefix,
        options=options,
        actor=actor or "",
        action=action or "",
    )
    rows = join(
        render(
            '<tr data-id="{id}"><td>{at}</td><td>{ks}</td><td><code>{kid}</code></td><td>{act}</td>'
            "<td>{actor}</td><td>{change}</td><td>{reason}</td></tr>",
            id=e.id,
            at=e.at.strftime("%Y-%m-%d %H:%M:%S"),
            ks=e.keyset or "",
            kid=e.kid or "",
            act=e.action,
            actor=e.actor,
            change=f"{e.old_state or '·'} → {e.new_state}" if e.new_state else "",
            reason=e.reason or "",
        )
        for e in events
    )
    more = Markup("")
    if next_before is not None:
        query = {k: v for k, v in (("keyset", keyset), ("actor", actor), ("action", action)) if v}
        query["before"] = str(next_before)
        more = render(
            '<p><a id="older" href="{p}/audit?{q}">older events →</a></p>',
            p=prefix,
            q=urlencode(query),
        )
    return render(
        '{form}<table class="audit"><thead><tr><th>At (UTC)</th><th>Key set</th><th>kid</th>'
        "<th>Action</th>"
        "<th>Actor</th><th>Change</th><th>Reason</th></tr></thead><tbody>{rows}</tbody></table>{more}",
        form=form,
        rows=rows or Markup('<tr><td colspan="7" class="empty">No events match.</td></tr>'),
        more=more,
    )
