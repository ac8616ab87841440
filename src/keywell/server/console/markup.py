"""HTML for the console: the one place where text becomes markup, always escaped.

Every value put into a page goes through :func:`esc` (``html.escape`` with
quotes), unless it is already :class:`Markup` built here from escaped parts.
:func:`render` fills a trusted template literal, escaping each value;
:func:`page` wraps a body in the console's layout, which loads only the
packaged stylesheet and script (the Content-Security-Policy allows nothing
else: no inline script or style, no other origin).
"""

from __future__ import annotations

import html
from collections.abc import Iterable

__all__ = ["Markup", "esc", "join", "page", "render"]


class Markup(str):
    """Text that is already safe HTML (built by :func:`esc`, :func:`render` or :func:`join`)."""

    __slots__ = ()


def esc(value: object) -> Markup:
    """``value`` as HTML text: ``& < > " '`` escaped; :class:`Markup` passes unchanged."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape(str(value), quote=True))


def render(template: str, /, **values: object) -> Markup:
    """Fill ``template`` (a literal written here, never input) with escaped ``values``."""
    return Markup(template.format(**{k: esc(v) for k, v in values.items()}))


def join(parts: Iterable[object], sep: str = "") -> Markup:
    """Escape and concatenate ``parts``."""
    return Markup(sep.join(esc(p) for p in parts))


_NAV = (
    ("keysets", "Key sets"),
    ("debugger", "Token debugger"),
    ("lint", "JWKS lint"),
    ("audit", "Audit log"),
)

_LAYOUT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · keywell console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{prefix}/static/console.css">
<script src="{prefix}/static/console.js" defer></script>
</head><body>
<header><a class="brand" href="{prefix}/keysets">keywell console</a>{nav}</header>
<main>{flash}<h1>{title}</h1>
{body}</main></body></html>
"""


def page(
    title: str,
    body: Markup,
    *,
    prefix: str,
    actor: str | None = None,
    csrf: str | None = None,
    flash: Iterable[tuple[str, str]] = (),
) -> bytes:
    """A whole console page as UTF-8 bytes.

    Args:
        title: the page title (escaped).
        body: the page content.
        prefix: the console's path prefix (``/console``).
        actor: the signed-in principal's audit name; ``None`` on the login page (no menu).
        csrf: the session's CSRF token, for the logout form.
        flash: ``(level, message)`` notes to show once (``ok`` or ``error``).
    """
    nav = Markup("")
    if actor is not None:
        links = join(
            render('<a href="{p}/{path}">{label}</a>', p=prefix, path=path, label=label)
            for path, label in _NAV
        )
        nav = render(
            '<nav>{links}</nav><form class="logout" method="post" action="{p}/logout">'
            '<input type="hidden" name="csrf" value="{csrf}">'
            '<span class="actor">{actor}</span> <button type="submit">Log out</button></form>',
            links=links,
            p=prefix,
            csrf=csrf or "",
            actor=actor,
        )
    notes = join(
        render('<p class="flash {level}" role="status">{text}</p>', level=level, text=text)
        for level, text in flash
    )
    return render(_LAYOUT, title=title, prefix=prefix, nav=nav, flash=notes, body=body).encode()
