"""keywell.lifecycle: the key-set domain, pure code with the clock passed in.

Rotation policies, key states and the planner that decides which transitions
are due (DESIGN.md, "Key lifecycle"). No I/O: the store applies the plan.
"""

from keywell.lifecycle.planner import (
    Step,
    next_due,
    plan,
    plan_revoke,
    plan_rotate,
    rotation_due_at,
)
from keywell.lifecycle.policy import RotationPolicy
from keywell.lifecycle.states import (
    PUBLISHED_STATES,
    AuditEvent,
    KeyInfo,
    KeySetInfo,
    KeyState,
    PublishedJWKS,
    RotationResult,
    Transition,
)

__all__ = [
    "PUBLISHED_STATES",
    "AuditEvent",
    "KeyInfo",
    "KeySetInfo",
    "KeyState",
    "PublishedJWKS",
    "RotationPolicy",
    "RotationResult",
    "Step",
    "Transition",
    "next_due",
    "plan",
    "plan_revoke",
    "plan_rotate",
    "rotation_due_at",
]
