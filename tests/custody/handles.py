"""What each custody backend's test fixture hands to the shared contract suite.

Each backend engineer writes ``tests/custody/backend_<scheme>.py`` with a
session-scoped fixture ``<scheme>_backend`` returning a :class:`BackendHandle`
for a real backend on loopback (SoftHSM2 token, ``bao server -dev``,
``moto_server``) that the fixture started and stops. ``db`` needs none.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Protocol


class BackendHandle(Protocol):
    """A running backend, as the contract suite drives it."""

    scheme: str

    def fresh_uri(self) -> str:
        """A custody URI for a new, empty namespace (token, mount or key prefix) of this backend."""

    def wrong_credential_uri(self) -> str:
        """A URI to the same backend whose credential (PIN, token, AWS keys) is refused."""

    def down(self) -> AbstractContextManager[None]:
        """While inside: the backend cannot be reached (server stopped, token removed)."""

    def delete_out_of_band(self, uri: str, ref: str) -> None:
        """Destroy a key behind keywell's back, with the backend's own client."""

    def held(self, uri: str, keyset: str) -> set[str]:
        """The refs of live keys the backend holds for ``keyset``, asked with its own client."""


def iter_schemes() -> Iterator[str]:
    """Every custody the contract suite runs on."""
    yield from ("db", "pkcs11", "transit", "awskms")
