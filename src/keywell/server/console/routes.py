"""The console's HTTP routes under ``/console``: login, pages, actions, static files.

Every response carries a strict Content-Security-Policy (the packaged
stylesheet and script only), ``no-store`` and anti-framing headers. Pages
need a live session whose admin token still holds ``read``; each action
needs its admin-API scope (``rotate``; ``revoke``; ``admin`` for the
policy), a same-origin request and the session's CSRF token. A refused
request gets an HTML page with the same code the admin API gives (``KW_*``);
an unexpected error a 500 naming a request id, logged by type only. Failed
logins are 401s after a store lookup, so the server's
:class:`~keywell.server.limits.FailureThrottle` counts them per address.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode, urlsplit

import anyio.to_thread
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router

from keywell.errors import KeywellError
from keywell.lifecycle import KeyInfo, KeySetInfo
from keywell.lifecycle.durations import parse_duration
from keywell.lifecycle.names import is_keyset_name
from keywell.lifecycle.rules import jwks_uri
from keywell.server import operations
from keywell.server.auth import Authenticator, Principal, authorize
from keywell.server.bodies import PolicyModel
from keywell.server.console import tools, views
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
from keywell.server.problems import Problem, internal_error, problem_from_error
from keywell.server.published import Entry

if TYPE_CHECKING:
    from keywell.server.app import ServerState

__all__ = ["CSP", "Console"]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_STATIC = {"console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8"}
_FORM = "application/x-www-form-urlencoded"
_AUDIT_PAGE = 50
Form = dict[str, str]
Handler = Callable[[Request, Session, Principal, Form], Awaitable[Response]]


def _load_static() -> dict[str, tuple[bytes, str]]:
    folder = resources.files("keywell.server.console") / "static"
    out = {}
    for name in _STATIC:
        body = (folder / name).read_bytes()
        out[name] = (body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    return out


def _response(
    body: bytes, status: int = 200, *, media: str = "text/html; charset=utf-8"
) -> Response:
    response = Response(body, status_code=status, media_type=media)
    response.headers.update(_HEADERS)
    response.headers["Cache-Control"] = "no-store"
    return response


def _redirect(location: str) -> Response:
    response = _response(b"", 303)
    response.headers["Location"] = location
    return response


def _parse_form(body: bytes, content_type: str) -> Form:
    if not body:
        return {}
    if content_type.split(";")[0].strip().lower() != _FORM:
        raise Problem(
            415, "KW_UNSUPPORTED_MEDIA_TYPE", "a console form is application/x-www-form-urlencoded"
        )
    try:
        pairs = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=32)
    except (UnicodeDecodeError, ValueError):
        raise Problem(400, "KW_INVALID_REQUEST", "the form is not valid") from None
    return {k: v[0] for k, v in pairs.items()}


class Console:
    """The web console bound to one server's state (an ASGI app, mounted at ``prefix``).

    Args:
        state: the server's issuer, registry, configuration and metrics.
        authenticator: the server's admin-token authenticator (the same cache and scopes).
        prefix: the path the console is mounted at.
        sessions: the session table (default: 15 min idle, 8 h absolute).
    """

    def __init__(
        self,
        state: ServerState,
        authenticator: Authenticator,
        *,
        prefix: str = "/console",
        sessions: Sessions | None = None,
    ) -> None:
        self.state = state
        self.auth = authenticator
        self.prefix = prefix
        self.sessions = sessions or Sessions()
        self._static = _load_static()
        g = self._guarded
        self.app = Router(
            routes=[
                Route("/", self._root, methods=["GET"]),
                Route("/login", self._login_form, methods=["GET"]),
                Route("/login", self._login, methods=["POST"]),
                Route("/logout", g(self._logout, None, mutate=True), methods=["POST"]),
                Route("/static/{file}", self._static_file, methods=["GET"]),
                Route("/keysets", g(self._keysets, "read"), methods=["GET"]),
                Route("/keysets/{name}", g(self._keyset, "read"), methods=["GET"]),
                Route("/keysets/{name}/live", g(self._live, "read", page=False), methods=["GET"]),
                Route(
                    "/keysets/{name}/rotate",
                    g(self._rotate, "rotate", mutate=True),
                    methods=["POST"],
                ),
                Route(
                    "/keysets/{name}/policy",
                    g(self._policy, "admin", mutate=True),
                    methods=["POST"],
                ),
                Route("/keysets/{name}/revoke", g(self._revoke_form, "revoke"), methods=["GET"]),
                Route(
                    "/keysets/{name}/revoke",
                    g(self._revoke, "revoke", mutate=True),
                    methods=["POST"],
                ),
                Route("/debugger", g(self._debugger, "read"), methods=["GET"]),
                Route("/debugger", g(self._debugger, "read", mutate=True), methods=["POST"]),
                Route("/lint", g(self._lint, "read"), methods=["GET"]),
                Route("/lint", g(self._lint, "read", mutate=True), methods=["POST"]),
                Route("/audit", g(self._audit, "read"), methods=["GET"]),
            ]
        )

    # -- plumbing -----------------------------------------------------------

    def _page(
        self, title: str, body: Markup, session: Session | None, status: int = 200
    ) -> Response:
        html = page(
            title,
            body,
            prefix=self.prefix,
            actor=session.actor if session else None,
            csrf=session.csrf if session else None,
            flash=session.take_flash() if session else (),
        )
        return _response(html, status)

    def _error(self, problem: Problem, session: Session | None) -> Response:
        body = render(
            '<p class="flash error" id="error"><code id="error-code">{code}</code> {detail}</p>'
            '<p><a href="{p}/keysets">Back to the key sets</a></p>',
            code=problem.code,
            detail=problem.detail,
            p=self.prefix,
        )
        response = self._page(f"{problem.status} refused", body, session, problem.status)
        if problem.status == 429 and "Retry-After" in problem.headers:
            response.headers["Retry-After"] = problem.headers["Retry-After"]
        return response

    def _secure(self, request: Request) -> bool:
        return not plain_loopback(request.url.scheme, request.headers.get("host", ""))

    def _origins(self, request: Request) -> set[str]:
        base = urlsplit(self.state.config.base_url)
        return {
            f"{base.scheme}://{base.netloc}",
            f"{request.url.scheme}://{request.headers.get('host', '')}",
        }

    def _login_url(self, request: Request) -> str:
        return f"{self.prefix}/login"

    def _guarded(
        self, handler: Handler, need: str | None, *, mutate: bool = False, page: bool = True
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            session = self.sessions.get(request.cookies.get(COOKIE))
            try:
                if session is None:
                    if not page:
                        return _response(b"", 401)
                    return _redirect(self._login_url(request))
                try:  # the token is checked again on every request: revoked ends the session
                    principal = await self.auth.authenticate("Bearer " + session.secret)
                except Problem:
                    self.sessions.end(request.cookies.get(COOKIE))
                    return _redirect(self._login_url(request)) if page else _response(b"", 401)
                form: Form = {}
                if mutate:
                    if not same_origin(request.headers, request.url.scheme, self._origins(request)):
                        raise Problem(
                            403, "KW_CROSS_ORIGIN", "the request did not come from this console"
                        )
                    form = _parse_form(
                        await request.body(), request.headers.get("content-type", "")
                    )
                    if not csrf_ok(session, form.get("csrf")):
                        raise Problem(
                            403,
                            "KW_CSRF",
                            "the form's CSRF token is missing or wrong: reload the page",
                        )
                if need is not None:
                    authorize(principal, need)
                name = request.path_params.get("name")
                if name is not None and not is_keyset_name(name):
                    raise Problem(404, "KW_KEYSET_NOT_FOUND", "no key set has that name")
                return await handler(request, session, principal, form)
            except Problem as problem:
                return self._error(problem, session)
            except KeywellError as exc:
                return self._error(problem_from_error(exc), session)
            except Exception as exc:
                return self._error(internal_error(exc, request.scope), session)

        return endpoint

    def _snapshot_entry(self, name: str) -> tuple[KeySetInfo, list[KeyInfo], Entry | None]:
        registry = self.state.registry
        if name not in registry.infos:
            raise Problem(404, "KW_KEYSET_NOT_FOUND", "no key set has that name")
        return registry.infos[name], registry.keys.get(name, []), registry.entries.get(name)

    def _jwks_url(self, name: str, alg: str) -> str:
        config = self.state.config
        url = jwks_uri(config.base_url, name, alg, default=name == config.default_keyset)
        return url or ""

    # -- login and logout ---------------------------------------------------

    async def _root(self, request: Request) -> Response:
        return _redirect(f"{self.prefix}/keysets")

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

    async def _login_form(self, request: Request) -> Response:
        if self.sessions.get(request.cookies.get(COOKIE)) is not None:
            return _redirect(f"{self.prefix}/keysets")
        return self._page("Log in", self._login_body(), None)

    async def _login(self, request: Request) -> Response:
        try:
            if not same_origin(request.headers, request.url.scheme, self._origins(request)):
                raise Problem(403, "KW_CROSS_ORIGIN", "the request did not come from this console")
            form = _parse_form(await request.body(), request.headers.get("content-type", ""))
            secret = form.get("token", "").strip()
            try:
                principal = await self.auth.authenticate("Bearer " + secret)
            except Problem:
                return self._page("Log in", self._login_body("That token is not valid."), None, 401)
            if "read" not in principal.scopes and "admin" not in principal.scopes:
                return self._page(
                    "Log in", self._login_body("That token lacks the read scope."), None, 403
                )
        except Problem as problem:
            return self._error(problem, None)
        sid, _ = self.sessions.create(secret, principal.actor, principal.scopes)
        response = _redirect(f"{self.prefix}/keysets")
        response.headers["Set-Cookie"] = cookie_header(
            sid, path=self.prefix, secure=self._secure(request), max_age=int(self.sessions.absolute)
        )
        return response

    async def _logout(
        self, request: Request, session: Session, principal: Principal, form: Form
    ) -> Response:
        self.sessions.end(request.cookies.get(COOKIE))
        response = _redirect(self._login_url(request))
        response.headers["Set-Cookie"] = cookie_header(
            "", path=self.prefix, secure=self._secure(request), max_age=0
        )
        return response

    async def _static_file(self, request: Request) -> Response:
        found = self._static.get(request.path_params["file"])
        if found is None:
            return _response(b"", 404, media="text/plain")
        body, etag = found
        if request.headers.get("if-none-match") == etag:
            response = _response(b"", 304)
        else:
            response = _response(body, media=_STATIC[request.path_params["file"]])
        response.headers["Cache-Control"] = "no-cache"
        response.headers["ETag"] = etag
        return response

    # -- key sets -------------------------------------------------------------

    async def _keysets(
        self, request: Request, session: Session, principal: Principal, form: Form
    ) -> Response:
        registry = self.state.registry
        infos = [registry.infos[n] for n in sorted(registry.infos)]
        body = views.keyset_list(
            infos, dict(registry.keys), prefix=self.prefix, now=datetime.now(UTC)
        )
        return self._page("Key sets", body, session)

    async def _keyset(
        self, request: Request, session: Session, principal: Principal, form: Form
    ) -> Response:
        name = request.path_params["name"]
        info, keys, entry = self._snapshot_entry(name)
        body = views.keyset_page(
            info,
            keys,
            entry,
            prefix=self.prefix,
            jwks_url=self._jwks_url(name, info.alg),
            csrf=session.csrf,
            now=datetime.now(UTC),
        )
        return self._page(f"Key set {name}", body, session)

    async def _live(
        self, request: Request, session: Session, principal: Principal, form: Form
    ) -> Response:
        """The page's live part, or 204 while the set's version is the one the page shows."""
        name = request.path_params["name"]
        info, keys, entry = self._snapshot_entry(name)
        if request.query_params.get("version") == str(info.version):
            return _response(b"", 204)
        part = views.live_part(
            info,
            keys,
            entry,
            prefix=self.prefix,
            jwks_url=self._jwks_url(name, info.alg),
            now=datetime.now(UTC),
        )
        return _response(part.encode())

    async def _rotate(
        self, request: Request, session: Session, principal: Principal, form: Form
    ) -> Response:
        name = request.path_params["name"]
        emergency = form.get("emergency") == "1"
        result, _ = await operations.rotate(
            self.state, name, emergency=emergency, actor=principal.actor
        )
        if result.performed:
            kind = "emergency rotation" if emergency else "rotation"
            session.flash.append(("ok", f"{kind} done: {result.active_kid} signs now"))
        else:
            at = result.next_possible_at
            when = f" at {at:%Y-%m-%d %H:%M:%S} UTC" if at else ""
            session.flash.append(
                (
                    "error",
                    f"not rotated: a planned rotation is possible{when}; "
                    "use emergency rotation to hand over now",
                )
            )
        if result.warning:
            session.flash.append(("error", result.warning))
        return _redirect(f"{self.prefix}/keysets/{name}")

    async def _policy(
        self, request: Request, session: Session, principal: Principal, form: Form
    ) -> Response:
        name = request.path_params["name"]
        seconds: dict[str, int | None] = {}
        for field, _, _ in views.POLICY_FIELDS:
            text = form.get(field, "").strip()
            try:
                if field == "prepublish" and not text:
                    seconds[field] = None
                elif field == "clock_skew" and text in ("0", "0s"):
                    seconds[field] = 0
                else:
                    seconds[field] = parse_duration(text)
            except ValueError as exc:
                raise Problem(422, "KW_POLICY_INVALID", f"{field}: {exc}") from None
        try:  # the admin API's bounds, then the lifecycle's consistency rules (PolicyError)
            policy = PolicyModel.model_validate(seconds).to_policy()
        except ValidationError:
            raise Problem(422, "KW_POLICY_INVALID", "a duration is out of range") from None
        await operations.update_policy(self.state, name, policy, actor=principal.actor)
        session.flash.append(("ok", "policy saved: " + policy.describe()))
        return _redirect(f"{self.prefix}/keysets/{name}")

    async def _revoke_form(
        self, request: Request, session: Session, principal: Principal, form: Form
    ) -> Response:
        name = request.path_params["name"]
        info, keys, _ = self._snapshot_entry(name)
        kid = request.query_params.get("kid", "")
        body = views.revoke_page(info, keys, kid, prefix=self.prefix, csrf=session.csrf)
        return self._page(f"Revoke a key of {name}", body, session)

    async def _revoke(
        self, request: Request, session: Session, principal: Principal, form: Form
    ) -> Response:
        name = request.path_params["name"]
        kid = form.get("kid", "")
        if not kid or form.get("confirm", "").strip() != kid:
            session.flash.append(("error", "not revoked: the kid typed back does not match"))
            return _redirect(f"{self.prefix}/keysets/{name}/revoke?{urlencode({'kid': kid})}")
        transitions, _ = await operations.revoke(
            self.state, name, kid, form.get("reason", ""), actor=principal.actor
        )
        changes = "; ".join(
            f"{t.kid} {t.old_state.value if t.old_state else 'new'} → {t.new_state.value}"
            for t in transitions
        )
        session.flash.append(("ok", f"revoked {kid}: {changes}"))
        return _redirect(f"{self.prefix}/keysets/{name}")

    # -- tools ------------------------------------------------------------------

    async def _debugger(
        self, request: Request, session: Session, principal: Principal, form: Form
    ) -> Response:
        registry = self.state.registry
        verdict = None
        if request.method == "POST":
            keyset = form.get("keyset") or None
            if keyset is not None and keyset not in registry.infos:
                raise Problem(404, "KW_KEYSET_NOT_FOUND", "no key set has that name")
            verdict = tools.debug_token(
                form.get("token", ""),
                registry.infos,
                registry.keys,
                registry.entries,
                keyset=keyset,
                default=self.state.config.default_keyset,
                audience=form.get("audience", "").strip() or None,
                now=time.time(),
            )
        body = tools.debugger_page(
            sorted(registry.infos),
            prefix=self.prefix,
            csrf=session.csrf,
            verdict=verdict,
            now=datetime.now(UTC),
        )
        return self._page("Token debugger", body, session)

    async def _lint(
        self, request: Request, session: Session, principal: Principal, form: Form
    ) -> Response:
        text = form.get("jwks") if request.method == "POST" else None
        return self._page(
            "JWKS lint", tools.lint_page(prefix=self.prefix, csrf=session.csrf, text=text), session
        )

    async def _audit(
        self, request: Request, session: Session, principal: Principal, form: Form
    ) -> Response:
        query = request.query_params
        keyset = query.get("keyset") or None
        actor = (query.get("actor") or "").strip()[:200] or None
        action = (query.get("action") or "").strip()[:200] or None
        before_text = query.get("before") or ""
        before = int(before_text) if before_text.isdigit() and len(before_text) < 11 else None
        if keyset is not None and not is_keyset_name(keyset):
            raise Problem(404, "KW_KEYSET_NOT_FOUND", "no key set has that name")
        size = _AUDIT_PAGE
        events = await anyio.to_thread.run_sync(
            lambda: self.state.issuer.history(
                keyset, limit=size + 1, actor=actor, action=action, before=before
            )
        )
        more = events[size - 1].id if len(events) > size else None
        body = tools.audit_page(
            events[:size],
            prefix=self.prefix,
            names=sorted(self.state.registry.infos),
            keyset=keyset,
            actor=actor,
            action=action,
            next_before=more,
        )
        return self._page("Audit log", body, session)
