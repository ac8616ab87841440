"""keywell.lifecycle: the key-set domain, pure code with the clock passed in.

Rotation policies, key states and the planner that decides which transitions
are due (DESIGN.md, "Key lifecycle"). No I/O: the store applies the plan.
"""

from keywell.lifecycle.durations import format_duration, parse_duration
from keywell.lifecycle.planner import (
    Step,
    emergency_warning,
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
    "emergency_warning",
    "format_duration",
    "next_due",
    "parse_duration",
    "plan",
    "plan_revoke",
    "plan_rotate",
    "rotation_due_at",
]
