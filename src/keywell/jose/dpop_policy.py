"""What a resource server accepts of DPoP proofs (RFC 9449 sections 4.3, 7.1, 8, 11.1)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from keywell.jose.algorithms import ASYMMETRIC_ALGORITHMS
from keywell.jose.dpop_nonce import NonceSource
from keywell.jose.dpop_replay import MemoryReplayStore, ReplayStore

__all__ = ["DEFAULT_DPOP_ALGORITHMS", "DPoPPolicy"]

#: Accepted proof algorithms unless configured: those clients use (RFC 9449 section 5.1).
DEFAULT_DPOP_ALGORITHMS: tuple[str, ...] = ("ES256", "ES384", "EdDSA", "Ed25519", "PS256", "RS256")


def _seconds(value: object, name: str, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number of seconds")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be {'positive' if positive else 'non-negative'}")
    return float(value)


@dataclass(frozen=True, kw_only=True)
class DPoPPolicy:
    """How proofs are checked; pass to ``Verifier(..., dpop=DPoPPolicy())``.

    Args:
        algorithms: accepted proof algorithms, asymmetric only
            (:data:`DEFAULT_DPOP_ALGORITHMS` by default); also sent in the
            ``algs`` challenge parameter (section 7.1).
        max_age: seconds a proof is accepted after its ``iat`` (section 11.1).
        leeway: seconds of clock skew allowed on either side of that window.
        replay: where accepted proofs are remembered until they expire
            (a bounded :class:`~keywell.jose.dpop_replay.MemoryReplayStore`
            by default; share a Redis or SQL store between processes).
        nonces: a server nonce source; when set, every proof must carry a
            current nonce (sections 8 and 9).
        allow_bearer: whether unbound tokens may still come as ``Bearer``
            (a token bound with ``cnf.jkt`` never may, section 7.2).
        max_size: proofs longer than this many characters are refused unread.

    Raises:
        ValueError: an empty, unknown or symmetric algorithm, or a bad number.
        TypeError: ``replay`` or ``nonces`` lacks the needed methods.
    """

    algorithms: Collection[str] = DEFAULT_DPOP_ALGORITHMS
    max_age: float = 60
    leeway: float = 5
    replay: ReplayStore = field(default_factory=MemoryReplayStore)
    nonces: NonceSource | None = None
    allow_bearer: bool = True
    max_size: int = 8192

    def __post_init__(self) -> None:
        """Validate and normalise (``algorithms`` becomes a frozenset)."""
        if isinstance(self.algorithms, str):
            raise ValueError("algorithms must be a collection of names, not one string")
        algs = frozenset(self.algorithms)
        wrong = algs - ASYMMETRIC_ALGORITHMS
        if not algs or wrong:
            raise ValueError(
                f"DPoP algorithms must be asymmetric ones keywell knows: {sorted(wrong)}"
            )
        object.__setattr__(self, "algorithms", algs)
        object.__setattr__(self, "max_age", _seconds(self.max_age, "max_age", positive=True))
        object.__setattr__(self, "leeway", _seconds(self.leeway, "leeway", positive=False))
        if not callable(getattr(self.replay, "first_use", None)):
            raise TypeError("replay must be a ReplayStore (with first_use)")
        if self.nonces is not None and not isinstance(self.nonces, NonceSource):
            raise TypeError("nonces must be a NonceSource (issue and is_current)")
        if isinstance(self.max_size, bool) or not isinstance(self.max_size, int):
            raise ValueError("max_size must be a positive integer")
        if self.max_size <= 0:
            raise ValueError("max_size must be a positive integer")

    @property
    def algs(self) -> str:
        """The accepted algorithms, space-separated and sorted (the ``algs`` parameter)."""
        return " ".join(sorted(self.algorithms))

    @property
    def window(self) -> float:
        """Seconds after ``iat`` until a proof is refused anyway (``max_age + leeway``)."""
        return self.max_age + self.leeway

    def iat_problem(self, iat: float, now: float) -> str | None:
        """Why a proof's ``iat`` is refused at ``now`` (seconds), or None (section 11.1).

        Accepted from ``iat - leeway`` until, not including, ``iat + window``:
        the window is half-open, so at the instant it closes the proof is
        refused, as a store holding it until then no longer does.
        """
        if iat > now + self.leeway:
            return '"iat" lies in the future'
        if not now < iat + self.window:
            return '"iat" is older than the accepted window'
        return None

    def remember_until(self, iat: float) -> float:
        """Until when (seconds) a replay store must hold an accepted proof with this ``iat``.

        The window's end (:meth:`iat_problem`) plus ``leeway`` once more: a
        store shared by processes whose clocks differ by up to ``leeway``
        still holds the proof while any of them would accept its ``iat``.
        Never earlier than the window's end, whatever the rounding.
        """
        return (iat + self.window) + self.leeway
