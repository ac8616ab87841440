"""The console's routes under ``/console``: the key-set pages, the actions and the tools.

Access control (sessions, origin, CSRF, scopes) is :mod:`.access`; the
markup is built by :mod:`.views` and :mod:`.tools` from the server's
published snapshot (``Registry``), so looking costs no database read; an
action goes through :mod:`keywell.server.operations`, as the admin API's do.

Routes and scopes: ``GET /keysets``, ``/keysets/{name}``,
``/keysets/{name}/live``, ``/debugger``, ``/lint``, ``/audit`` and ``POST
/debugger``, ``/lint``: ``read``; ``POST /keysets/{name}/rotate``:
``rotate``; ``GET``/``POST /keysets/{name}/revoke``: ``revoke``; ``POST
/keysets/{name}/policy``: ``admin``.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import anyio.to_thread
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router

from keywell.lifecycle import KeyInfo, KeySetInfo
from keywell.lifecycle.durations import parse_duration
from keywell.lifecycle.names import is_keyset_name
from keywell.lifecycle.rules import jwks_uri
from keywell.server import operations
from keywell.server.auth import Authenticator, Principal
from keywell.server.bodies import PolicyModel
from keywell.server.console import audit, tools, views
from keywell.server.console.access import Access
from keywell.server.console.http import CSP, Form, StaticFiles, redirect, response
from keywell.server.console.sessions import Session, Sessions
from keywell.server.fastpath import Receive, Scope, Send
from keywell.server.problems import Problem
from keywell.server.published import Entry

if TYPE_CHECKING:
    from keywell.server.app import ServerState

__all__ = ["CSP", "Console"]

_AUDIT_PAGE = 50


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
        self.prefix = prefix
        self.sessions = sessions or Sessions()
        self.access = access = Access(
            authenticator, self.sessions, prefix=prefix, base_url=state.config.base_url
        )
        g = access.guarded
        self.app = Router(
            routes=[
                Route("/", self.root, methods=["GET"]),
                Route("/login", access.login_form, methods=["GET"]),
                Route("/login", access.login, methods=["POST"]),
                Route("/logout", g(access.logout, None, mutate=True), methods=["POST"]),
                Route("/static/{file}", StaticFiles().serve, methods=["GET"]),
                Route("/keysets", g(self._keysets, "read"), methods=["GET"]),
                Route("/keysets/{name}", g(self._keyset, "read"), methods=["GET"]),
                Route(
                    "/keysets/{name}/live",
                    g(self._live, "read", html=False, touch=False),
                    methods=["GET"],
                ),
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
            ],
            # Starlette's slash redirects are absolute URLs built from the Host header
            # (a Host-header open redirect): the console's are relative (:meth:`_other`).
            redirect_slashes=False,
            default=self._other,
        )

    async def root(self, request: Request) -> Response:
        """``GET {prefix}`` and ``{prefix}/``: to the key sets (a relative ``Location``)."""
        return redirect(f"{self.prefix}/keysets")

    async def _other(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A path no route matched: a slash redirect or a 404 page.

        A ``GET`` ending in ``/`` goes to the path without it (a relative
        ``Location``, never naming a host); anything else is the console's 404 page.
        """
        request = Request(scope, receive)
        path = request.url.path
        if request.method in ("GET", "HEAD") and path.endswith("/"):
            target = re.sub("/{2,}", "/", path).rstrip("/")
            query = request.url.query
            answer = redirect(target + (f"?{query}" if query else ""))
        else:
            problem = Problem(404, "KW_NOT_FOUND", "the console has no such page")
            answer = self.access.error(problem, None)
        await answer(scope, receive, send)

    def _snapshot_entry(self, name: str) -> tuple[KeySetInfo, list[KeyInfo], Entry | None]:
        registry = self.state.registry
        if name not in registry.infos:
            raise Problem(404, "KW_KEYSET_NOT_FOUND", "no key set has that name")
        return registry.infos[name], registry.keys.get(name, []), registry.entries.get(name)

    def _jwks_url(self, name: str, alg: str) -> str:
        config = self.state.config
        url = jwks_uri(config.base_url, name, alg, default=name == config.default_keyset)
        return url or ""

    # -- key sets -------------------------------------------------------------

    async def _keysets(
        self, request: Request, session: Session, principal: Principal, form: Form
    ) -> Response:
        registry = self.state.registry
        infos = [registry.infos[n] for n in sorted(registry.infos)]
        body = views.keyset_list(
            infos, dict(registry.keys), prefix=self.prefix, now=datetime.now(UTC)
        )
        return self.access.page("Key sets", body, session)

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
        return self.access.page(f"Key set {name}", body, session)

    async def _live(
        self, request: Request, session: Session, principal: Principal, form: Form
    ) -> Response:
        """The page's live part, or 204 while the set's version is the one the page shows."""
        name = request.path_params["name"]
        info, keys, entry = self._snapshot_entry(name)
        if request.query_params.get("version") == str(info.version):
            return response(b"", 204)
        part = views.live_part(
            info,
            keys,
            entry,
            prefix=self.prefix,
            jwks_url=self._jwks_url(name, info.alg),
            now=datetime.now(UTC),
        )
        return response(part.encode())

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
        return redirect(f"{self.prefix}/keysets/{name}")

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
        return redirect(f"{self.prefix}/keysets/{name}")

    async def _revoke_form(
        self, request: Request, session: Session, principal: Principal, form: Form
    ) -> Response:
        name = request.path_params["name"]
        info, keys, _ = self._snapshot_entry(name)
        kid = request.query_params.get("kid", "")
        body = views.revoke_page(info, keys, kid, prefix=self.prefix, csrf=session.csrf)
        return self.access.page(f"Revoke a key of {name}", body, session)

    async def _revoke(
        self, request: Request, session: Session, principal: Principal, form: Form
    ) -> Response:
        name = request.path_params["name"]
        kid = form.get("kid", "")
        if not kid or form.get("confirm", "").strip() != kid:
            session.flash.append(("error", "not revoked: the kid typed back does not match"))
            return redirect(f"{self.prefix}/keysets/{name}/revoke?{urlencode({'kid': kid})}")
        transitions, _ = await operations.revoke(
            self.state, name, kid, form.get("reason", ""), actor=principal.actor
        )
        changes = "; ".join(
            f"{t.kid} {t.old_state.value if t.old_state else 'new'} → {t.new_state.value}"
            for t in transitions
        )
        session.flash.append(("ok", f"revoked {kid}: {changes}"))
        return redirect(f"{self.prefix}/keysets/{name}")

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
        return self.access.page("Token debugger", body, session)

    async def _lint(
        self, request: Request, session: Session, principal: Principal, form: Form
    ) -> Response:
        text = form.get("jwks") if request.method == "POST" else None
        return self.access.page(
            "JWKS lint", tools.lint_page(prefix=self.prefix, csrf=session.csrf, text=text), session
        )

    async def _audit(
        self, request: Request, session: Session, principal: Principal, form: Form
    ) -> Response:
        query = request.query_params
        keyset = query.get("keyset") or None
        actor = (query.get("actor") or "").strip()[:200] or None
        action = (query.get("action") or "").strip()[:200] or None
        before = audit.parse_before(query.get("before"))
        if keyset is not None and not is_keyset_name(keyset):
            raise Problem(404, "KW_KEYSET_NOT_FOUND", "no key set has that name")
        size = _AUDIT_PAGE
        events = await anyio.to_thread.run_sync(
            lambda: self.state.issuer.history(
                keyset, limit=size + 1, actor=actor, action=action, before=before
            )
        )
        more = events[size - 1].id if len(events) > size else None
        body = audit.audit_page(
            events[:size],
            prefix=self.prefix,
            names=sorted(self.state.registry.infos),
            keyset=keyset,
            actor=actor,
            action=action,
            next_before=more,
        )
        return self.access.page("Audit log", body, session)
