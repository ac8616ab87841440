"""Rotation and revocation as the server performs them, for the admin API and the console alike.

Each change is committed through the Issuer in a worker thread, counted in
the metrics and published on this replica at once; an emergency rotation or
a revocation returns only once ``max_staleness`` has passed since its commit,
so every replica serves the new key set by then (see
:meth:`~keywell.server.app.ServerState.propagated`).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import anyio.to_thread

from keywell.lifecycle import RotationPolicy, RotationResult, Transition

if TYPE_CHECKING:
    from keywell.lifecycle import KeySetInfo
    from keywell.server.app import ServerState

__all__ = ["revoke", "rotate", "update_policy"]


async def _publish(state: ServerState) -> None:
    await anyio.to_thread.run_sync(state.registry.refresh, state.issuer)


async def rotate(
    state: ServerState, name: str, *, emergency: bool, actor: str
) -> tuple[RotationResult, datetime | None]:
    """Rotate ``name`` now; returns the result and, for a performed emergency, the commit time.

    Raises:
        KeySetNotFoundError: no set is called ``name``.
    """
    issuer = state.issuer
    result = await anyio.to_thread.run_sync(
        lambda: issuer.rotate(name, emergency=emergency, actor=actor)
    )
    committed, since = datetime.now(UTC), time.monotonic()
    state.metrics.count_transitions(result.transitions)
    await _publish(state)
    if not (emergency and result.performed):
        return result, None
    await state.propagated(since)  # the fresh key must be served everywhere first
    return result, committed


async def revoke(
    state: ServerState, name: str, kid: str, reason: str, *, actor: str
) -> tuple[list[Transition], datetime]:
    """Revoke ``kid`` of ``name``; returns the transitions and the commit time.

    Raises:
        KeySetNotFoundError, KeyNotFoundError: no such set or key.
        InvalidInputError: the reason is empty, too long or holds control characters.
    """
    issuer = state.issuer
    transitions = await anyio.to_thread.run_sync(
        lambda: issuer.revoke(name, kid, reason, actor=actor)
    )
    committed, since = datetime.now(UTC), time.monotonic()
    state.metrics.count_transitions(transitions)
    await _publish(state)
    # Respond once no replica can serve a document from before the commit (each
    # refreshes before serving a snapshot older than max_staleness).
    await state.propagated(since)
    return transitions, committed


async def update_policy(
    state: ServerState, name: str, policy: RotationPolicy, *, actor: str
) -> KeySetInfo:
    """Replace the policy of ``name`` and publish the result on this replica."""
    issuer = state.issuer
    info = await anyio.to_thread.run_sync(lambda: issuer.update_policy(name, policy, actor=actor))
    await _publish(state)
    return info
