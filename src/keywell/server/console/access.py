"""Who may use the console: login, logout, and the guard around every page and action.

A page needs a live session (:mod:`.sessions`) whose admin token the server's
:class:`~keywell.server.auth.Authenticator` still accepts (checked on every
request: a revoked token ends the session) and that holds the page's scope
(``read``; an action the scope the admin API asks for it). A state-changing
request must also come from this origin and carry the session's CSRF token.
A refusal is an HTML page naming the same code the admin API gives
(``KW_*``); an unexpected error a 500 naming a request id, logged by type
only (:func:`~keywell.server.problems.internal_error`). A failed login is a
401 after a store lookup, which the server's
:class:`~keywell.server.limits.FailureThrottle` counts against the address.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from keywell.errors import KeywellError
from keywell.lifecycle.names import is_keyset_name
from keywell.server.auth import Authenticator, Principal, authorize
from keywell.server.console.http import Form, parse_form, redirect, response
from keywell.server.console.markup import Markup, page, render
from keywell.server.console.sessions import (
    COOKIE,
    Session,
    Sessions,
    cookie_header,
    csrf_ok,
    plain_loopback,
    same_origin,
)
from keywell.server.fastpath import Scope
from keywell.server.problems import Problem, internal_error, problem_from_error

__all__ = ["Access", "Handler"]

Handler = Callable[[Request, Session, Principal, Form], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def _cross_origin() -> Problem:
    return Problem(403, "KW_CROSS_ORIGIN", "the request did not come from this console")


class Access:
    """Sessions, login and logout, and :meth:`guarded` for every other console endpoint.

    Args:
        authenticator: the server's admin-token authenticator.
        sessions: the session table.
        prefix: the console's path prefix.
        base_url: the server's public base URL (its origin is this console's).
    """

    def __init__(
        self, authenticator: Authenticator, sessions: Sessions, *, prefix: str, base_url: str
    ) -> None:
        self.auth = authenticator
        self.sessions = sessions
        self.prefix = prefix
        base = urlsplit(base_url)
        self._origin = f"{base.scheme}://{base.netloc}"

    def page(
        self, title: str, body: Markup, session: Session | None, status: int = 200
    ) -> Response:
        """A whole page in the layout, with the session's menu, CSRF token and notes."""
        html = page(
            title,
            body,
            prefix=self.prefix,
            actor=session.actor if session else None,
            csrf=session.csrf if session else None,
            flash=session.take_flash() if session else (),
        )
        return response(html, status)

    def error(self, problem: Problem, session: Session | None) -> Response:
        """``problem`` as an HTML page with its status and code."""
        body = render(
            '<p class="flash error" id="error"><code id="error-code">{code}</code> {detail}</p>'
            '<p><a href="{p}/keysets">Back to the key sets</a></p>',
            code=problem.code,
            detail=problem.detail,
            p=self.prefix,
        )
        return self.page(f"{problem.status} refused", body, session, problem.status)

    def _secure(self, request: Request) -> bool:
        """``Secure`` unless plain http on loopback *and* the public URL is not https.

        A TLS proxy on the same host reaches the server over plain loopback
        http; its users' browsers are on https, so the cookie stays ``Secure``.
        """
        if self._origin.startswith("https://"):
            return True
        return not plain_loopback(request.url.scheme, request.headers.get("host", ""))

    def _same_origin(self, request: Request) -> bool:
        here = f"{request.url.scheme}://{request.headers.get('host', '')}"
        return same_origin(request.headers, request.url.scheme, {self._origin, here})

    def vouched(self, scope: Scope) -> bool:
        """Whether ``scope`` carries a live session whose token the store accepted lately.

        The failure throttle's exemption for the console (no I/O, no clock
        restarted): a console user holds a known-good admin token server-side,
        exactly as an API caller sending it would
        (:meth:`~keywell.server.auth.Authenticator.vouched`), so unknown tokens
        sent from a shared address never lock either out.
        """
        if scope.get("path") == f"{self.prefix}/login":
            return False  # a login guesses a token: a session must not lift the throttle there
        session = self.sessions.get(Request(scope).cookies.get(COOKIE), touch=False)
        return session is not None and self.auth.vouched("Bearer " + session.secret)

    def guarded(
        self,
        handler: Handler,
        need: str | None,
        *,
        mutate: bool = False,
        html: bool = True,
        touch: bool = True,
    ) -> Endpoint:
        """``handler`` behind the session, origin, CSRF and scope checks.

        Args:
            handler: called with the request, session, principal and form.
            need: the scope required (``None``: any signed-in session).
            mutate: a state-changing POST (same origin and the CSRF token required).
            html: a page (no session: redirect to the login) rather than a fetch (401).
            touch: whether the request restarts the session's idle clock (``False``
                for a page's background poll).
        """

        async def endpoint(request: Request) -> Response:
            sid = request.cookies.get(COOKIE)
            session = self.sessions.get(sid, touch=touch)
            if session is None:
                return redirect(f"{self.prefix}/login") if html else response(b"", 401)
            try:
                try:  # the token is checked again on every request: revoked ends the session
                    principal = await self.auth.authenticate("Bearer " + session.secret)
                except Problem:
                    self.sessions.end(sid)
                    return redirect(f"{self.prefix}/login") if html else response(b"", 401)
                form: Form = {}
                if mutate:
                    if not self._same_origin(request):
                        raise _cross_origin()
                    content_type = request.headers.get("content-type", "")
                    form = parse_form(await request.body(), content_type)
                    if not csrf_ok(session, form.get("csrf")):
                        detail = "the form's CSRF token is missing or wrong: reload the page"
                        raise Problem(403, "KW_CSRF", detail)
                if need is not None:
                    authorize(principal, need)
                name = request.path_params.get("name")
                if name is not None and not is_keyset_name(name):
                    raise Problem(404, "KW_KEYSET_NOT_FOUND", "no key set has that name")
                return await handler(request, session, principal, form)
            except Problem as problem:
                return self.error(problem, session)
            except KeywellError as exc:
                return self.error(problem_from_error(exc), session)
            except Exception as exc:
                return self.error(internal_error(exc, request.scope), session)

        return endpoint

    # -- login and logout ---------------------------------------------------

    def _login_body(self, note: str = "") -> Markup:
        return render(
            '{note}<form method="post" action="{p}/login" class="login">'
            '<label>Admin token <input type="password" name="token" id="token" '
            'autocomplete="off" required></label>'
            '<button type="submit" id="login">Log in</button>'
            "<p><small>An admin API token (<code>keywell admin-token create</code>); the "
            "<code>read</code> scope to look, an action's scope to act.</small></p></form>",
            note=render('<p class="flash error" id="error">{n}</p>', n=note) if note else "",
            p=self.prefix,
        )

    async def login_form(self, request: Request) -> Response:
        """``GET /login``: the form (or the key sets, for a live session)."""
        if self.sessions.get(request.cookies.get(COOKIE)) is not None:
            return redirect(f"{self.prefix}/keysets")
        return self.page("Log in", self._login_body(), None)

    async def login(self, request: Request) -> Response:
        """``POST /login``: a same-origin form with an admin token holding ``read``."""
        try:
            if not self._same_origin(request):
                raise _cross_origin()
            form = parse_form(await request.body(), request.headers.get("content-type", ""))
            secret = form.get("token", "").strip()
            try:
                principal = await self.auth.authenticate("Bearer " + secret)
            except Problem:
                note = self._login_body("That token is not valid.")
                return self.page("Log in", note, None, 401)
            if "read" not in principal.scopes and "admin" not in principal.scopes:
                note = self._login_body("That token lacks the read scope.")
                return self.page("Log in", note, None, 403)
        except Problem as problem:
            return self.error(problem, None)
        self.sessions.end(request.cookies.get(COOKIE))  # a new login replaces the browser's
        sid, _ = self.sessions.create(secret, principal.actor, principal.scopes)
        answer = redirect(f"{self.prefix}/keysets")
        answer.headers["Set-Cookie"] = cookie_header(
            sid, path=self.prefix, secure=self._secure(request), max_age=int(self.sessions.absolute)
        )
        return answer

    async def logout(
        self, request: Request, session: Session, principal: Principal, form: Form
    ) -> Response:
        """``POST /logout`` (guarded): forget the session here and in the browser."""
        self.sessions.end(request.cookies.get(COOKIE))
        answer = redirect(f"{self.prefix}/login")
        answer.headers["Set-Cookie"] = cookie_header(
            "", path=self.prefix, secure=self._secure(request), max_age=0
        )
        return answer
