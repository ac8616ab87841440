"""One loaded PKCS#11 module per process: its worker thread, token lookup and logged-in sessions.

PKCS#11 is an in-process C API with three traps this module keeps away from
:class:`keywell.custody.pkcs11.PKCS11Custody`:

- **Threads.** python-pkcs11 initialises the module with ``C_Initialize(NULL)``,
  which tells it the application will not call in from several threads at
  once (PKCS#11 v2.40 section 5.4; SoftHSM2 then turns its own locking off),
  and a session is not thread-safe either. So every call into a module runs on
  that module's single worker thread, one at a time.
- **Time.** A C call cannot be interrupted. The caller waits at most its
  ``timeout`` for the worker (queueing included) and gets an error after that;
  a call already inside the module runs on and later calls queue behind it.
  What cannot be bounded: the call itself, and loading the module.
- **Login state is per token, not per session** (PKCS#11 v2.40 section 11.6):
  a second ``C_Login`` answers ``CKR_USER_ALREADY_LOGGED_IN`` whatever the PIN,
  and ``C_Logout`` on one session logs every session out. So each token gets
  one shared logged-in session, and a later user of that token must present
  the same PIN (compared in constant time) or is refused without a login.

After a failure that means the token or module went away (an HSM unplugged,
SoftHSM2's token directory gone), :meth:`Module.invalidate` marks the module
stale: the next call finalises and re-initialises it (``C_Finalize`` then
``C_Initialize``, the only way most modules notice a token coming back) and
logs in again. Sessions of the old generation are dropped, never closed: after
re-initialisation their handle numbers belong to new sessions.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pkcs11

__all__ = ["GONE", "Module", "PinMismatch", "TokenSelector", "module_for"]

T = TypeVar("T")

#: Failures that mean the session, token or module is gone: the module is re-initialised.
GONE: tuple[type[pkcs11.PKCS11Error], ...] = (
    pkcs11.SessionHandleInvalid,
    pkcs11.SessionClosed,
    pkcs11.TokenNotPresent,
    pkcs11.TokenNotRecognised,
    pkcs11.DeviceRemoved,
    pkcs11.DeviceError,
    pkcs11.GeneralError,
    pkcs11.NoSuchToken,
    pkcs11.UserNotLoggedIn,
)


class PinMismatch(Exception):
    """The token is logged in already, with another PIN than the one presented."""


@dataclass(frozen=True)
class TokenSelector:
    """Which token a custody URI names (RFC 7512 section 2.3 attributes)."""

    label: str
    slot_id: int | None = None
    serial: str | None = None
    manufacturer: str | None = None
    model: str | None = None

    def matches(self, slot: Any, token: Any) -> bool:
        """Whether ``token`` in ``slot`` is the one named."""
        wanted: list[tuple[object, object]] = [(self.label, token.label)]
        wanted += [(self.slot_id, slot.slot_id), (self.serial, _text(token.serial))]
        wanted += [(self.manufacturer, token.manufacturer_id), (self.model, token.model)]
        return all(want is None or want == have for want, have in wanted)


def _text(value: object) -> str:
    return value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)


@dataclass(eq=False)
class Login:
    """The shared logged-in session of one token, and the private key handles found in it."""

    session: Any
    pin: str
    handles: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return "<Login>"


class Module:
    """A PKCS#11 module loaded once per process; every call runs on its worker thread."""

    def __init__(self, path: str) -> None:
        self.path = path
        # A daemon thread, not a ThreadPoolExecutor: the interpreter joins an executor's
        # threads at exit, and a call hung in the module would then hang the exit too.
        self._queue: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]]] = queue.SimpleQueue()
        threading.Thread(target=self._work, name="keywell-pkcs11", daemon=True).start()
        # Touched only on the worker thread:
        self._lib: Any = None
        self._stale = False
        self._logins: dict[TokenSelector, Login] = {}
        self._users: dict[TokenSelector, int] = {}
        self._users_lock = threading.Lock()

    def acquire(self, selector: TokenSelector) -> None:
        """Count a custody using ``selector``'s token (see :meth:`release`)."""
        with self._users_lock:
            self._users[selector] = self._users.get(selector, 0) + 1

    def submit(self, call: Callable[[], T], timeout: float) -> T:
        """Run ``call`` on the worker; wait at most ``timeout`` seconds (queue included).

        Raises:
            TimeoutError: no answer in time (a queued call is cancelled; a running one goes on).
        """
        future: Future[T] = Future()
        self._queue.put((future, call))
        try:
            return future.result(timeout=timeout)
        except TimeoutError:
            future.cancel()
            raise

    def _work(self) -> None:
        while True:
            future, call = self._queue.get()
            if not future.set_running_or_notify_cancel():
                continue  # the caller gave up while it was queued
            try:
                future.set_result(call())
            except BaseException as exc:  # handed to the caller, who maps it
                future.set_exception(exc)

    # -- on the worker thread only ---------------------------------------------------------

    def invalidate(self) -> None:
        """Forget every session; the next :meth:`login` re-initialises the module."""
        self._stale = True
        self._logins.clear()

    def find(self, selector: TokenSelector) -> tuple[Any, Any]:
        """The one present ``(slot, token)`` ``selector`` names.

        Raises:
            pkcs11.NoSuchToken: none or several match.
        """
        lib = self._ready()
        found = []
        for slot in lib.get_slots(token_present=True):
            token = slot.get_token()
            if selector.matches(slot, token):
                found.append((slot, token))
        if len(found) != 1:
            raise pkcs11.NoSuchToken(f"{len(found)} tokens match")
        return found[0]

    def login(self, selector: TokenSelector, pin: str) -> Login:
        """The token's shared logged-in read-write session, opened on first use.

        Raises:
            PinMismatch: the token is logged in with another PIN.
            pkcs11.PKCS11Error: the token is absent or refuses the PIN.
        """
        self._ready()
        found = self._logins.get(selector)
        if found is not None:
            if not hmac.compare_digest(found.pin.encode(), pin.encode()):
                raise PinMismatch
            return found
        _, token = self.find(selector)
        login = Login(token.open(rw=True, user_pin=pin), pin)
        self._logins[selector] = login
        return login

    def _ready(self) -> Any:
        if self._lib is None:
            self._lib = pkcs11.lib(self.path)
            self._stale = _forked  # the parent's C_Initialize does not hold in a child
        if self._stale or not self._lib.initialized:
            self._logins.clear()
            if self._lib.initialized:
                self._lib.finalize()
            self._lib.initialize()
            self._stale = False
        return self._lib

    def release(self, selector: TokenSelector, timeout: float) -> None:
        """One custody fewer on ``selector``'s token; the last one logs out and closes it."""
        with self._users_lock:
            left = self._users.get(selector, 0) - 1
            if left > 0:
                self._users[selector] = left
                return
            self._users.pop(selector, None)

        def shut() -> None:
            login = self._logins.pop(selector, None)
            if login is not None and not self._stale:
                try:
                    login.session.close()
                except pkcs11.PKCS11Error:
                    self.invalidate()

        with contextlib.suppress(TimeoutError):  # best effort: the token logs out on exit
            self.submit(shut, timeout)


_modules: dict[str, Module] = {}
_modules_lock = threading.Lock()


_forked = False


def _after_fork() -> None:
    # PKCS#11 v2.40 section 6.6.1: a child process must C_Initialize again; the parent's
    # worker threads do not exist in it.
    global _forked
    _forked = True
    _modules.clear()


os.register_at_fork(after_in_child=_after_fork)


def module_for(path: str) -> Module:
    """The process's :class:`Module` for the library at ``path`` (a new one after a fork)."""
    with _modules_lock:
        module = _modules.get(path)
        if module is None:
            module = _modules[path] = Module(path)
        return module
