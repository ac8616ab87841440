"""Console sessions: server-side, random ids, idle and absolute expiry, CSRF tokens.

A session is created by logging in with an admin token and lives in this
process's memory only: the browser holds a random id (``secrets``, 256 bits)
in an ``HttpOnly; SameSite=Strict`` cookie scoped to the console's path,
``Secure`` unless the console is reached over plain http on a loopback
address. The table is keyed by the SHA-256 of the id, so a lookup never
compares a secret. With several worker processes or replicas a session
lives in the process that created it: serve the console from one process
(sticky sessions to one single-worker replica) or log in again where you land.

The admin token itself stays in server memory with the session (never in the
cookie, a log line or a ``repr``) so that every request re-checks it through
the server's :class:`~keywell.server.auth.Authenticator`: a token revoked or
expired since login ends the session at the next click.

Cross-site request forgery (OWASP CSRF cheat sheet): every state-changing
request carries the session's CSRF token in its form, compared with
:func:`hmac.compare_digest`, and must come from this origin
(``Sec-Fetch-Site: same-origin``, or an ``Origin`` equal to this one).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from keywell.lifecycle.names import is_loopback

__all__ = ["COOKIE", "Session", "Sessions", "cookie_header", "csrf_ok", "same_origin"]

COOKIE = "keywell_console"
_MAX_SESSIONS = 10_000
_PER_ACTOR = 20


@dataclass(eq=False)
class Session:
    """One signed-in browser: who, what it may do, its CSRF token and its clocks (monotonic s)."""

    secret: str = field(repr=False)
    actor: str
    scopes: frozenset[str]
    csrf: str = field(repr=False)
    created: float
    seen: float
    flash: list[tuple[str, str]] = field(default_factory=list, repr=False)

    def take_flash(self) -> list[tuple[str, str]]:
        """The notes queued for the next page, removed from the session."""
        notes, self.flash = self.flash, []
        return notes


class Sessions:
    """The process's console sessions.

    Args:
        idle: seconds without a request after which a session ends.
        absolute: seconds after login after which a session ends whatever happens.
        clock: a monotonic clock in seconds (tests pass their own).
        max_sessions: sessions kept at most; the oldest goes when full.
        per_actor: sessions one admin token holds at most; its oldest goes first,
            so a token logging in again and again never evicts other people's.
    """

    def __init__(
        self,
        *,
        idle: float = 15 * 60,
        absolute: float = 8 * 3600,
        clock: Callable[[], float] = time.monotonic,
        max_sessions: int = _MAX_SESSIONS,
        per_actor: int = _PER_ACTOR,
    ) -> None:
        if idle <= 0 or absolute <= 0 or max_sessions <= 0 or per_actor <= 0:
            raise ValueError("idle, absolute, max_sessions and per_actor must be positive")
        self.idle = idle
        self.absolute = absolute
        self._clock = clock
        self._max = max_sessions
        self._per_actor = per_actor
        self._table: dict[bytes, Session] = {}

    @staticmethod
    def _key(sid: str) -> bytes:
        return hashlib.sha256(sid.encode("utf-8", "surrogatepass")).digest()

    def create(self, secret: str, actor: str, scopes: frozenset[str]) -> tuple[str, Session]:
        """A new session for a verified admin token; returns ``(session id, session)``."""
        now = self._clock()
        own = [k for k, s in self._table.items() if s.actor == actor]
        for key in own[: max(0, len(own) - self._per_actor + 1)]:  # oldest first
            del self._table[key]
        if len(self._table) >= self._max:
            self._table = {k: s for k, s in self._table.items() if self._alive(s, now)}
            if len(self._table) >= self._max:
                self._table.pop(next(iter(self._table)))
        sid = secrets.token_urlsafe(32)
        session = Session(
            secret=secret,
            actor=actor,
            scopes=scopes,
            csrf=secrets.token_urlsafe(32),
            created=now,
            seen=now,
        )
        self._table[self._key(sid)] = session
        return sid, session

    def _alive(self, session: Session, now: float) -> bool:
        return now - session.seen < self.idle and now - session.created < self.absolute

    def get(self, sid: str | None, *, touch: bool = True) -> Session | None:
        """The live session of ``sid``, or ``None``.

        ``touch`` restarts its idle clock: a person's request does, a page's
        background poll (``touch=False``) does not, so an open tab left alone
        still ends after ``idle`` seconds (OWASP Session Management cheat sheet).
        """
        if not sid or len(sid) > 128:
            return None
        key = self._key(sid)
        session = self._table.get(key)
        if session is None:
            return None
        now = self._clock()
        if not self._alive(session, now):
            del self._table[key]
            return None
        if touch:
            session.seen = now
        return session

    def end(self, sid: str | None) -> None:
        """Forget ``sid`` (logging out); unknown ids are ignored."""
        if sid:
            self._table.pop(self._key(sid), None)

    def __len__(self) -> int:
        return len(self._table)

    def __repr__(self) -> str:
        return f"<Sessions count={len(self._table)}>"


def cookie_header(sid: str, *, path: str, secure: bool, max_age: int) -> str:
    """The ``Set-Cookie`` value for ``sid`` (``max_age`` 0 deletes it; RFC 6265 section 4.1)."""
    value = f"{COOKIE}={sid}; Path={path}; HttpOnly; SameSite=Strict; Max-Age={max_age}"
    return value + "; Secure" if secure else value


def plain_loopback(scheme: str, host_header: str) -> bool:
    """Whether a request came over plain http to a loopback host (the one no-Secure case)."""
    if scheme != "http" or not host_header:
        return False
    host = urlsplit(f"//{host_header}").hostname
    return host is not None and is_loopback(host)


def same_origin(headers: Mapping[str, str], scheme: str, allowed: set[str]) -> bool:
    """Whether a state-changing request comes from this origin (Fetch Metadata, RFC 6454).

    ``Sec-Fetch-Site`` when the browser sends it must be ``same-origin``;
    otherwise ``Origin`` must be one of ``allowed`` (this server's origins).
    A request with neither is refused.
    """
    site = headers.get("sec-fetch-site")
    if site is not None and site != "same-origin":
        return False
    origin = headers.get("origin")
    if origin is None:
        return site == "same-origin"
    return origin in allowed


def csrf_ok(session: Session, sent: str | None) -> bool:
    """Whether ``sent`` is the session's CSRF token (constant-time comparison)."""
    if not sent:
        return False
    return hmac.compare_digest(session.csrf.encode(), sent.encode("utf-8", "surrogatepass"))
