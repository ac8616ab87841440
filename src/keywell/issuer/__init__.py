"""The Issuer: key sets that rotate themselves, signing, publication, admin tokens.

``keywell.issuer.Issuer`` (also ``keywell.Issuer``) is the facade; the parts
it is composed from live in the modules of this package.
"""

from __future__ import annotations

from keywell.issuer.facade import SIGNING_ALGORITHMS, Issuer

__all__ = ["SIGNING_ALGORITHMS", "Issuer"]
