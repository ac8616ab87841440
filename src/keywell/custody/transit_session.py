"""The HTTP side of the Transit custody: clients, the Vault token, the error boundary.

One ``hvac`` client per thread (a ``requests`` session is not shared between
threads), each request bounded by the custody's per-call ``timeout`` (one
budget for the whole call, a server trickling its answer included, and at most
``transit_wire.MAX_ANSWER`` bytes read: :mod:`keywell.custody.bounded_http`),
never following a redirect (the token travels in ``X-Vault-Token``). The token
is read from its source (``file:PATH`` or ``env:NAME``) when the custody opens,
and read again when Vault refuses it (403) in case the source now holds another
one (Vault Agent writing a fresh token); every token ever read is scrubbed from
messages.

Every failure is a :class:`keywell.errors.CustodyError` whose message is
written by :func:`keywell.custody.transit_wire.describe`, and whose cause is
not kept: a ``requests`` exception holds the request, headers included.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import hvac
import hvac.exceptions
import requests
from urllib3.util import Timeout

from keywell.custody import transit_wire as wire
from keywell.custody.bounded_http import BoundedAdapter
from keywell.custody.uri import read_credential
from keywell.errors import CustodyError

__all__ = ["TransitSession", "read_token"]

T = TypeVar("T")

_TOKEN = re.compile(r"[\x21-\x7e]{1,4096}")  # printable ASCII without space: a header value


def read_token(source: str) -> str:
    """The Vault token at ``source`` (``file:PATH`` or ``env:NAME``).

    Raises:
        CustodyError: (operation ``open``) missing, empty, over 64 KiB, or not
            1-4096 printable ASCII characters without spaces; the message names
            the source, never its content.
    """
    token = read_credential(source, backend="transit")
    if _TOKEN.fullmatch(token) is None:
        raise CustodyError(
            f"transit custody: the token at {source!r} is not 1-4096 printable "
            "ASCII characters without spaces",
            backend="transit",
            operation="open",
        )
    return token


class TransitSession:
    """Calls to one Vault server with one token source; safe to share between threads.

    ``error(operation, message)`` makes the custody's :class:`CustodyError`.
    """

    def __init__(
        self,
        *,
        url: str,
        token_source: str,
        verify: bool | str,
        namespace: str | None,
        timeout: float,
        error: Callable[[str, str], CustodyError],
    ) -> None:
        self.url = url
        self.timeout = timeout
        self._source = token_source
        self.__token = read_token(token_source)
        self.__held = {self.__token}
        self._verify = verify
        self._namespace = namespace
        self._error = error
        self._local = threading.local()
        self._clients: list[Any] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<TransitSession {self.url} token from {self._source}>"

    def call(self, operation: str, fn: Callable[[Any], T]) -> T:
        """``fn(this thread's hvac client)``; any exception becomes a :class:`CustodyError`.

        A :class:`CustodyError` raised by ``fn`` passes as is; a 403 is retried
        once if the token source now holds another token.
        """
        for retry in (False, True):
            try:
                return fn(self._client())
            except CustodyError:
                raise
            except hvac.exceptions.Forbidden as exc:
                if not retry and self._reload_token():
                    continue
                message = wire.describe(exc, self.url, self.timeout)
            except Exception as exc:  # the backend boundary: nothing untyped leaves it
                message = wire.describe(exc, self.url, self.timeout)
            break
        for token in self.__held:
            message = message.replace(token, "[token]")
        raise self._error(operation, message)

    def close(self) -> None:
        """Close every thread's HTTP session."""
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.adapter.close()

    def _client(self) -> Any:
        # A forked child (a server's worker) must not share its parent's connections.
        client = getattr(self._local, "client", None)
        if client is None or self._local.pid != os.getpid():
            session = requests.Session()
            session.verify = self._verify  # hvac takes a given session's verify over its own
            bounded = BoundedAdapter(deadline=self.timeout, max_bytes=wire.MAX_ANSWER)
            session.mount("http://", bounded)
            session.mount("https://", bounded)
            with self._lock:
                client = hvac.Client(
                    session=session,
                    url=self.url,
                    token=self.__token,
                    verify=self._verify,
                    # connecting and the wait for the answer share one budget
                    timeout=Timeout(total=self.timeout),
                    namespace=self._namespace,
                    allow_redirects=False,
                )
                self._clients.append(client)
            self._local.client = client
            self._local.pid = os.getpid()
        return client

    def _reload_token(self) -> bool:
        """Read the token source again; True if it held a new token, now in use."""
        try:
            token = read_token(self._source)
        except CustodyError:
            return False
        with self._lock:
            if token == self.__token:
                return False
            self.__token = token
            self.__held.add(token)
            for client in self._clients:
                client.token = token
        return True
